"""The background jobs, written once as plain functions of their arguments and a context."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from recommender.activity.counts import count_and_store
from recommender.catalog import uploads
from recommender.config import Settings
from recommender.engines import canonical_name, trainable_names
from recommender.engines.limits import EngineLimitError
from recommender.progress import Progress, within
from recommender.registry import versions
from recommender.store.database import Database
from recommender.tasks import locks, schedule

log = logging.getLogger(__name__)

# One catalogue load at a time, and one training of each engine at a time (two would race
# for the engine's next version), whatever the executor. Trainings of different engines run
# side by side on as many workers, and beside a load: each reads the store in one snapshot,
# so it learns from the old catalogue or the new one, never a mix.
CATALOGUE_LOCK = "catalogue"


def training_lock(engine: str) -> str:
    return f"training:{engine}"


class TrainingFailedError(RuntimeError):
    """Every engine of a training job failed (the job fails; the active models stay)."""


@dataclass
class JobContext:
    db: Database
    settings: Settings
    task_id: str
    progress: Progress


@dataclass(frozen=True)
class JobSpec:
    run: Callable[..., dict[str, Any]]
    # Safe to run again after a failure (a retry cannot leave a different result).
    idempotent: bool
    # A request while an identical job is still queued joins it instead of adding another.
    coalesce: bool


def _locked(ctx: JobContext, name: str) -> locks.LockHolder:
    return locks.LockHolder(
        ctx.db,
        name,
        lease_s=ctx.settings.task_heartbeat_timeout_s * 2,
        wait_s=ctx.settings.job_time_limit_s,
    )


def load_dump(ctx: JobContext, dump_id: int) -> dict[str, Any]:
    """Replace the catalogue with a stored upload."""
    with _locked(ctx, CATALOGUE_LOCK) as lock:
        counts = uploads.load_upload(
            ctx.db,
            dump_id,
            progress=within(ctx.progress, 0.0, 1.0, "loading"),
            then=count_and_store,
        )
    return {"dump_id": dump_id, "counts": counts, "lock": lock.span()}


def _train_engines(
    ctx: JobContext,
    engines: list[str],
    params: dict[str, Any] | None = None,
    *,
    skip_over_limit: bool = True,
) -> dict[str, Any]:
    """Train each engine in turn, each under its own lock (its span in the outcome). One whose
    limits the data exceeds is skipped, with the reason in its outcome, or, without
    `skip_over_limit` (an engine asked for by name), refused: the job fails with the reason
    and nothing is registered."""
    # Imported here: training pulls in the heavy engines, which the API process never needs.
    from recommender.training.pipeline import train_engine

    outcomes: dict[str, Any] = {}
    for index, name in enumerate(engines):
        report = within(ctx.progress, index / len(engines), (index + 1) / len(engines), name)
        try:
            with _locked(ctx, training_lock(name)) as lock:
                outcome = train_engine(
                    ctx.db, ctx.settings, name, report, task_id=ctx.task_id, params=params
                )
            outcomes[name] = outcome | {"lock": lock.span()}
        except EngineLimitError as error:
            if not skip_over_limit:
                raise
            log.warning("training %s skipped: %s", name, error)
            outcomes[name] = {"status": "skipped", "reason": str(error)}
        except Exception as error:  # one engine failing must not stop the others
            log.exception("training %s failed", name)
            message = f"{type(error).__name__}: {error}"
            with ctx.db.write() as conn, Session(bind=conn) as session:
                row = versions.record_failure(
                    session, engine=name, error=message, task_id=ctx.task_id
                )
                outcomes[name] = {"version": row.version, "status": "failed", "error": message}
    if engines and all(outcome["status"] == "failed" for outcome in outcomes.values()):
        raise TrainingFailedError("; ".join(f"{n}: {o['error']}" for n, o in outcomes.items()))
    return outcomes


def train(
    ctx: JobContext,
    engine: str | None = None,
    params: dict[str, Any] | None = None,
    engines: list[str] | None = None,
    trigger: str = "request",
) -> dict[str, Any]:
    """Fit, evaluate and register one engine, the `engines` named, or every trainable one;
    activate what passed. `params` (only with one engine) override the configured
    hyper-parameters; `trigger` says who asked (a request or the schedule). One engine asked
    for alone is refused when the data exceeds its limits; among several it is skipped.
    """
    if engine:
        engines = [canonical_name(engine)]
    else:
        engines = [canonical_name(name) for name in engines or trainable_names()]
    if trigger != schedule.TRIGGER:
        schedule.restart(ctx.db)
    trained = _train_engines(ctx, engines, params if engine else None, skip_over_limit=not engine)
    return {"engines": trained}


def update(ctx: JobContext, dump_id: int) -> dict[str, Any]:
    """Load a dump, then train every trainable engine on the new catalogue."""
    with _locked(ctx, CATALOGUE_LOCK) as lock:
        counts = uploads.load_upload(
            ctx.db,
            dump_id,
            progress=within(ctx.progress, 0.0, 0.2, "loading"),
            then=count_and_store,
        )
    schedule.restart(ctx.db)
    later = JobContext(ctx.db, ctx.settings, ctx.task_id, within(ctx.progress, 0.2, 1.0))
    trained = _train_engines(later, trainable_names())
    return {"dump_id": dump_id, "counts": counts, "engines": trained, "lock": lock.span()}


JOBS: dict[str, JobSpec] = {
    "load_dump": JobSpec(load_dump, idempotent=True, coalesce=False),
    "train": JobSpec(train, idempotent=False, coalesce=True),
    "update": JobSpec(update, idempotent=False, coalesce=False),
}
