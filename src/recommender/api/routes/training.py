"""`POST /update` and `GET|POST /training`: retrain, after loading a new dump or on its own."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from recommender.api.deps import AdminAccess, RuntimeDep
from recommender.api.errors import VALIDATION_RESPONSES, ErrorBody
from recommender.api.routes.dumps import DUMP_SCHEMA
from recommender.api.schemas.tasks import Enqueued
from recommender.catalog import uploads
from recommender.engines import trainable_names

router = APIRouter(tags=["jobs"])


@router.post(
    "/update",
    status_code=204,
    response_class=Response,
    responses={**VALIDATION_RESPONSES, 503: {"model": ErrorBody}},
    summary="Load a dump, then retrain every engine",
    dependencies=[AdminAccess],
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": DUMP_SCHEMA}}}
    },
)
async def post_update(request: Request, runtime: RuntimeDep) -> Response:
    """Validates the dump now; loading and training run as one job (`X-Task-Id`)."""
    raw = await request.body()
    dump_id = await run_in_threadpool(uploads.accept, runtime.db, raw)
    task_id = await run_in_threadpool(runtime.executor.submit, "update", dump_id=dump_id)
    return Response(status_code=204, headers={"X-Task-Id": task_id})


def _train(runtime: RuntimeDep) -> JSONResponse:
    task_id = runtime.executor.submit("train", engine=None)
    body = Enqueued(task_id=task_id, engines=trainable_names())
    return JSONResponse(body.model_dump(), headers={"X-Task-Id": task_id})


@router.get(
    "/training",
    response_model=Enqueued,
    responses={503: {"model": ErrorBody}},
    summary="Retrain every engine (kept for the original API's GET)",
    dependencies=[AdminAccess],
)
def get_training(runtime: RuntimeDep) -> JSONResponse:
    return _train(runtime)


@router.post(
    "/training",
    response_model=Enqueued,
    responses={503: {"model": ErrorBody}},
    summary="Retrain every engine",
    dependencies=[AdminAccess],
)
def post_training(runtime: RuntimeDep) -> JSONResponse:
    """Versions that pass the quality gate become active; the others stay as candidates."""
    return _train(runtime)
