"""`GET /tasks`, `GET /tasks/{id}`: what background jobs are doing and what became of them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from recommender.api.deps import AdminAccess, ConnectionDep
from recommender.api.errors import ErrorBody
from recommender.api.schemas.tasks import TaskList, TaskOut
from recommender.tasks import records

router = APIRouter(tags=["jobs"])

State = Literal["queued", "running", "succeeded", "failed"]


@router.get(
    "/tasks", response_model=TaskList, summary="Recent background jobs", dependencies=[AdminAccess]
)
def list_tasks(
    conn: ConnectionDep,
    state: State | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TaskList:
    found = records.recent(conn, limit=limit, state=state)
    return TaskList(count=len(found), tasks=[TaskOut.of(t) for t in found])


@router.get(
    "/tasks/{task_id}",
    response_model=TaskOut,
    responses={404: {"model": ErrorBody}},
    summary="One background job",
    dependencies=[AdminAccess],
)
def get_task(conn: ConnectionDep, task_id: Annotated[str, Path(max_length=64)]) -> TaskOut:
    found = records.get(conn, task_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no task {task_id}")
    return TaskOut.of(found)
