"""Bringing registered versions into a serving process: new ones loaded, unchanged ones kept."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from recommender.engines import UnknownEngineError, engine_class
from recommender.engines.base import Artifact, Model
from recommender.registry import artifacts
from recommender.registry.versions import active_rows
from recommender.store.schema import ModelVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A model held in memory by a serving process, with where it came from."""

    engine: str
    model: Model
    # The registry version; None for models every process rebuilds from the store.
    version: int | None = None
    # Held-out quality recorded when it was trained (the gate metric), for `auto`.
    quality: float | None = None


def _load(conn: Connection, engine: str, version: int, row_id: int, metric: str) -> LoadedModel:
    with Session(bind=conn) as session:
        row = session.get_one(ModelVersion, row_id)
        data = artifacts.fetch(row)
        recorded = row.metrics.get(metric)
    model = engine_class(engine).model_type.from_artifact(Artifact.from_bytes(data))
    quality = float(recorded) if isinstance(recorded, int | float) else None
    log.info("loaded %s v%s", engine, version)
    return LoadedModel(engine=engine, model=model, version=version, quality=quality)


_FAILURES = (artifacts.ArtifactMissingError, UnknownEngineError, KeyError, ValueError)


def load_active(
    conn: Connection, current: Mapping[str, LoadedModel], *, metric: str = "NDCG@10"
) -> dict[str, LoadedModel]:
    """The active model of every engine. A version that fails to load keeps the one before it
    serving (if any), so a broken artifact never takes an engine down."""
    loaded: dict[str, LoadedModel] = {}
    for engine, version, row_id in active_rows(conn):
        kept = current.get(engine)
        if kept is not None and kept.version == version:
            loaded[engine] = kept
            continue
        try:
            loaded[engine] = _load(conn, engine, version, row_id, metric)
        except _FAILURES as error:
            log.error("cannot load %s v%s: %s", engine, version, error)
            if kept is not None:
                loaded[engine] = kept
    return loaded


def load_versions(
    conn: Connection,
    wanted: Iterable[tuple[str, int]],
    current: Mapping[tuple[str, int], LoadedModel],
    *,
    metric: str = "NDCG@10",
) -> dict[tuple[str, int], LoadedModel]:
    """Particular versions (the ones experiments pin), keyed by (engine, version); one that
    cannot be loaded is left out and its arm falls back to the engine's active version."""
    loaded: dict[tuple[str, int], LoadedModel] = {}
    for engine, version in sorted(set(wanted)):
        kept = current.get((engine, version))
        if kept is not None:
            loaded[(engine, version)] = kept
            continue
        row_id = conn.execute(
            select(ModelVersion.id).where(
                ModelVersion.engine == engine, ModelVersion.version == version
            )
        ).scalar_one_or_none()
        if row_id is None:
            log.error("experiment arm names %s v%s, which is not registered", engine, version)
            continue
        try:
            loaded[(engine, version)] = _load(conn, engine, version, int(row_id), metric)
        except _FAILURES as error:
            log.error("cannot load %s v%s: %s", engine, version, error)
    return loaded
