"""A/B experiments over HTTP: define, list, report, stop, promote (admin only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool

from recommender.api.deps import AdminAccess, ConnectionDep, RuntimeDep
from recommender.api.errors import VALIDATION_RESPONSES, ErrorBody
from recommender.api.schemas.experiments import (
    ExperimentIn,
    ExperimentList,
    ExperimentOut,
    ReportOut,
)
from recommender.experiments import lifecycle, records, report
from recommender.experiments.assignment import Arm

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
