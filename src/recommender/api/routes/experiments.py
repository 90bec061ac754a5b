"""A/B experiments over HTTP: define, list, report, stop, promote (admin only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool

from recommender.api.deps import AdminAccess, ConnectionDep, RuntimeDep
from recommender.api.errors import VALIDATION_RESPONSES, ErrorBody
from recommender.api.schemas.experiments import (
    EstimateOut,
    ExperimentIn,
    ExperimentList,
    ExperimentOut,
    ReportOut,
)
from recommender.engines import name_pattern
from recommender.experiments import lifecycle, records, report
from recommender.experiments.assignment import Arm
from recommender.serving import replay

router = APIRouter(tags=["experiments"], dependencies=[AdminAccess])

ExperimentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}
ENDED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The experiment has already ended."}
}


def _spec(body: ExperimentIn) -> records.ExperimentSpec:
    return records.ExperimentSpec(
        name=body.name,
        panels=tuple(dict.fromkeys(body.panels)),
        arms=tuple(Arm(a.name, a.engine, a.version, a.weight) for a in body.arms),
        min_effect=body.min_effect,
        alpha=body.alpha,
    )


@router.post(
    "/experiments",
    status_code=201,
    response_model=ExperimentOut,
    responses=VALIDATION_RESPONSES,
    summary="Start an A/B experiment on some panels",
)
async def create_experiment(body: ExperimentIn, runtime: RuntimeDep) -> ExperimentOut:
    """Visitors of the panels are split between the arms by a stable hash of the experiment
    and the visitor (user, else AAI identity, else browser), in proportion to the weights.
    A request that names `engine_version` stays outside. At most one running experiment per
    panel."""
    record = await run_in_threadpool(lifecycle.start, runtime.db, _spec(body))
    await run_in_threadpool(runtime.serving.refresh)
    return ExperimentOut.of(record)


@router.get("/experiments", response_model=ExperimentList, summary="Every experiment")
def list_experiments(conn: ConnectionDep) -> ExperimentList:
    found = records.listing(conn)
    return ExperimentList(count=len(found), experiments=[ExperimentOut.of(r) for r in found])


@router.get(
    "/experiments/{experiment_id}",
    response_model=ReportOut,
    responses=NOT_FOUND,
    summary="An experiment and its per-arm report",
)
def get_experiment(experiment_id: ExperimentId, runtime: RuntimeDep) -> ReportOut:
    """Per arm: visitors, impressions, attributed clicks and orders, click-through and order
    rates with 95 % intervals, the difference from the first arm, and a verdict once the
    sequential test reaches one (`method` says how)."""
    return ReportOut.of(report.current(runtime.db, experiment_id))


@router.get(
    "/experiments/{experiment_id}/estimates",
    response_model=EstimateOut,
    responses={**VALIDATION_RESPONSES, **NOT_FOUND},
    summary="Off-policy estimate of an engine's click rate on the experiment's log",
)
def estimate_engine(
    experiment_id: ExperimentId,
    runtime: RuntimeDep,
    conn: ConnectionDep,
    engine: Annotated[
        str,
        Query(
            min_length=1,
            max_length=64,
            examples=["ncf"],
            json_schema_extra={"pattern": name_pattern()},
            description="The engine whose policy (always serve it) is estimated.",
        ),
    ],
    method: Annotated[
        Literal["arm", "slot", "item"] | None,
        Query(description="Default: `arm` when an arm serves the engine, else `slot`."),
    ] = None,
) -> EstimateOut:
    """IPS and SNIPS, each with a 95 % interval clustered by visitor, and how many
    impressions they rest on. `arm` weights the engine's arms by their propensity; `slot` and
    `item` rank the contexts the experiment's `random` arm logged again with the engine and
    weight the services both panels hold (same slot, or anywhere) by the chance the random
    panel showed them there. `assumptions` says when each is unbiased. A 400 names the field:
    an engine that is unknown, not loaded or no arm's (for `arm`), or a `method` needing a
    random arm the experiment lacks."""
    return EstimateOut.of(
        replay.estimate(
            runtime.serving.current,
            conn,
            experiment_id,
            engine,
            runtime.settings.fallback_order,
            method,
        )
    )


@router.post(
    "/experiments/{experiment_id}/stop",
    response_model=ExperimentOut,
    responses={**NOT_FOUND, **ENDED},
    summary="Stop an experiment: every visitor gets the default again",
)
def stop_experiment(experiment_id: ExperimentId, runtime: RuntimeDep) -> ExperimentOut:
    stopped = lifecycle.stop(runtime.db, experiment_id)
    runtime.serving.refresh()
    return ExperimentOut.of(stopped)


@router.post(
    "/experiments/{experiment_id}/promote/{arm}",
    response_model=ExperimentOut,
    responses={**VALIDATION_RESPONSES, **NOT_FOUND, **ENDED},
    summary="Make an arm's engine (and version) the default, and end the experiment",
)
def promote_arm(
    experiment_id: ExperimentId,
    arm: Annotated[str, Path(min_length=1, max_length=64)],
    runtime: RuntimeDep,
) -> ExperimentOut:
    promoted = lifecycle.promote(runtime.db, experiment_id, arm)
    runtime.serving.refresh()
    return ExperimentOut.of(promoted)
