"""How background jobs are shown: `GET /tasks` and `GET /tasks/{id}`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from recommender.tasks.records import TaskRecord


class TaskOut(BaseModel):
    id: str
    name: str
    args: dict[str, Any]
    state: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: float
    message: str
    error: str | None
    result: dict[str, Any] | None
    worker: str | None

    @classmethod
    def of(cls, record: TaskRecord) -> TaskOut:
        return cls.model_validate(record, from_attributes=True)


class TaskList(BaseModel):
    count: int
    tasks: list[TaskOut]


class Enqueued(BaseModel):
    """The answer of `/training`: the job that will do the work."""

    task_id: str
    engines: list[str]
