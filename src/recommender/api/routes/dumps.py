"""`POST /database_dumps`: replace the catalogue with a new dump, loaded in the background."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from recommender.api.deps import AdminAccess, RuntimeDep
from recommender.api.errors import VALIDATION_RESPONSES, ErrorBody
from recommender.catalog import uploads
from recommender.catalog.dump import REQUIRED_ARRAYS

router = APIRouter(tags=["catalogue"])

DUMP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": list(REQUIRED_ARRAYS),
    "properties": {
        name: {"type": "array", "items": {"type": "object"}}
        for name in (*REQUIRED_ARRAYS, "research_steps", "projects")
    },
}


@router.post(
    "/database_dumps",
    status_code=204,
    response_class=Response,
    responses={**VALIDATION_RESPONSES, 503: {"model": ErrorBody}},
    summary="Replace the catalogue",
    dependencies=[AdminAccess],
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": DUMP_SCHEMA}}}
    },
)
async def post_database_dump(request: Request, runtime: RuntimeDep) -> Response:
    """Validates the whole dump now (400 naming entity, id and field if it is wrong), stores
    it, and loads it in the background; the `X-Task-Id` header identifies that job."""
    raw = await request.body()
    dump_id = await run_in_threadpool(uploads.accept, runtime.db, raw)
    task_id = await run_in_threadpool(runtime.executor.submit, "load_dump", dump_id=dump_id)
    return Response(status_code=204, headers={"X-Task-Id": task_id})
