"""Bringing active versions into a serving process: new ones loaded, unchanged ones kept."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection
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
            with Session(bind=conn) as session:
                row = session.get_one(ModelVersion, row_id)
                data = artifacts.fetch(row)
                recorded = row.metrics.get(metric)
            artifact = Artifact.from_bytes(data)
            model = engine_class(engine).model_type.from_artifact(artifact)
        except (artifacts.ArtifactMissingError, UnknownEngineError, KeyError, ValueError) as error:
            log.error("cannot load %s v%s: %s", engine, version, error)
            if kept is not None:
                loaded[engine] = kept
            continue
        quality = float(recorded) if isinstance(recorded, int | float) else None
        loaded[engine] = LoadedModel(engine=engine, model=model, version=version, quality=quality)
        log.info("loaded %s v%s", engine, version)
    return loaded
