"""`POST /database_dumps`: replace the catalogue with a new dump, loaded in the background."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from recommender.api.deps import AdminAccess, RuntimeDep
from recommender.api.errors import VALIDATION_RESPONSES, ErrorBody
from recommender.catalog import uploads
from recommender.catalog.dump import json_schema

router = APIRouter(tags=["catalogue"])

DUMP_SCHEMA: dict[str, Any] = json_schema()


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
    it, and loads it in the background; the `X-Task-Id` header identifies that job.

    Beyond its schema, a dump must have unique ids within each entity, name only ids of the
    same dump in its references, and give ratings as numbers or decimal strings."""
    raw = await request.body()
    dump_id = await run_in_threadpool(uploads.accept, runtime.db, raw)
    task_id = await run_in_threadpool(runtime.executor.submit, "load_dump", dump_id=dump_id)
    return Response(status_code=204, headers={"X-Task-Id": task_id})
