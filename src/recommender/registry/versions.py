"""Registering, listing and activating model versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session

from recommender.registry import artifacts
from recommender.store import state
from recommender.store.schema import Experiment, ModelVersion, utcnow

CANDIDATE, ACTIVE, RETIRED, FAILED = "candidate", "active", "retired", "failed"
# Versions beyond this many per engine keep their metrics but give up their artifact.
KEEP_ARTIFACTS = 5


class VersionNotFoundError(LookupError):
    pass


class NotActivatableError(ValueError):
    pass


def register(
    session: Session,
    *,
    engine: str,
    artifact: bytes,
    artifact_folder: str | None,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    baseline_metrics: Mapping[str, Any],
    fingerprint: Mapping[str, Any],
    curves: Mapping[str, Any] | None = None,
    plot_png: bytes | None = None,
    task_id: str | None = None,
) -> ModelVersion:
    """Store a new candidate version of `engine` with the next version number."""
    latest = session.execute(
        select(func.max(ModelVersion.version)).where(ModelVersion.engine == engine)
    ).scalar_one()
    row = ModelVersion(
        engine=engine,
        version=(latest or 0) + 1,
        status=CANDIDATE,
        created_at=utcnow(),
        params=dict(params),
        metrics=dict(metrics),
        baseline_metrics=dict(baseline_metrics),
        fingerprint=dict(fingerprint),
        curves=dict(curves or {}),
        plot_png=plot_png,
        task_id=task_id,
        gate={},
    )
    artifacts.store(row, artifact, artifact_folder)
    session.add(row)
    session.flush()
    return row


def record_failure(
    session: Session, *, engine: str, error: str, task_id: str | None = None
) -> ModelVersion:
    """Keep a trace of a training that produced no model (it can never be activated)."""
    latest = session.execute(
        select(func.max(ModelVersion.version)).where(ModelVersion.engine == engine)
    ).scalar_one()
    row = ModelVersion(
        engine=engine,
        version=(latest or 0) + 1,
        status=FAILED,
        created_at=utcnow(),
        task_id=task_id,
        error=error[:10_000],
        params={},
        metrics={},
        baseline_metrics={},
        fingerprint={},
        curves={},
        gate={},
        artifact_size=0,
        artifact_sha256="",
    )
    session.add(row)
    session.flush()
    return row


def get(session: Session, engine: str, version: int) -> ModelVersion:
    row = session.execute(
        select(ModelVersion).where(ModelVersion.engine == engine, ModelVersion.version == version)
    ).scalar_one_or_none()
    if row is None:
        raise VersionNotFoundError(f"{engine} has no version {version}")
    return row


def active(session: Session, engine: str) -> ModelVersion | None:
    return session.execute(
        select(ModelVersion).where(ModelVersion.engine == engine, ModelVersion.status == ACTIVE)
    ).scalar_one_or_none()


def listing(session: Session, engine: str | None = None) -> Sequence[ModelVersion]:
    statement = select(ModelVersion).order_by(ModelVersion.engine, ModelVersion.version.desc())
    if engine is not None:
        statement = statement.where(ModelVersion.engine == engine)
    return session.execute(statement).scalars().all()


def activate(session: Session, engine: str, version: int) -> ModelVersion:
    """Make `version` the one that serves `engine`; the previous one retires (rollback-able).

    Serving processes notice through the models version in the state table.
    """
    bind = session.get_bind()
    lock = bind.dialect.name == "postgresql"
    rows = (
        session.execute(
            select(ModelVersion).where(ModelVersion.engine == engine).with_for_update(of=None)
            if lock
            else select(ModelVersion).where(ModelVersion.engine == engine)
        )
        .scalars()
        .all()
    )
    target = next((row for row in rows if row.version == version), None)
    if target is None:
        raise VersionNotFoundError(f"{engine} has no version {version}")
    problem = why_not_servable(session, engine, version)
    if problem is not None:
        raise NotActivatableError(problem)
    for row in rows:
        if row.status == ACTIVE and row.version != version:
            row.status = RETIRED
    target.status = ACTIVE
    target.activated_at = utcnow()
    session.flush()
    state.put(session.connection(), state.MODELS, f"{engine}:{version}")
    _collect(session, engine)
    return target


def mark(session: Session, row: ModelVersion, status: str, *, error: str | None = None) -> None:
    row.status = status
    row.error = error
    session.flush()


def why_not_servable(session: Session, engine: str, version: int) -> str | None:
    """Why `version` of `engine` cannot serve (missing, failed, artifact collected), or None."""
    try:
        row = get(session, engine, version)
    except VersionNotFoundError as error:
        return str(error)
    if row.status == FAILED:
        return f"{engine} v{version} failed and cannot serve"
    if row.artifact is None and not row.artifact_uri:
        return f"{engine} v{version} no longer has its artifact"
    return None


def _pinned(session: Session, engine: str) -> set[int]:
    """Versions of `engine` that running experiments serve: their artifacts are kept."""
    arms = session.execute(select(Experiment.arms).where(Experiment.status == "running"))
    return {
        int(arm["version"])
        for (experiment_arms,) in arms
        for arm in experiment_arms
        if arm.get("engine") == engine and arm.get("version") is not None
    }


def _collect(session: Session, engine: str) -> None:
    keep = (
        select(ModelVersion.id)
        .where(ModelVersion.engine == engine)
        .order_by(ModelVersion.version.desc())
        .limit(KEEP_ARTIFACTS)
        .scalar_subquery()
    )
    session.execute(
        update(ModelVersion)
        .where(
            ModelVersion.engine == engine,
            ModelVersion.status != ACTIVE,
            ModelVersion.id.not_in(keep),
            ModelVersion.version.not_in(_pinned(session, engine)),
        )
        .values(artifact=None, artifact_uri=None)
    )


def active_rows(conn: Connection) -> list[tuple[str, int, int]]:
    """(engine, version, row id) of every active version."""
    rows = conn.execute(
        select(ModelVersion.engine, ModelVersion.version, ModelVersion.id).where(
            ModelVersion.status == ACTIVE
        )
    ).all()
    return [(str(e), int(v), int(i)) for e, v, i in rows]
