"""The `tasks` table: a job's lifecycle from queued to succeeded or failed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from recommender.store.schema import Task, utcnow

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
FINISHED = (SUCCEEDED, FAILED)


def create(conn: Connection, name: str, args: dict[str, Any]) -> str:
    task_id = str(uuid.uuid4())
    conn.execute(
        insert(Task).values(
            id=task_id,
            name=name,
            args=args,
            state=QUEUED,
            created_at=utcnow(),
            progress=0.0,
            message="queued",
        )
    )
    return task_id


def find_queued(conn: Connection, name: str, args: dict[str, Any]) -> str | None:
    """A queued task of the same job and arguments, which a new request can join."""
    rows = conn.execute(
        select(Task.id, Task.args).where(Task.name == name, Task.state == QUEUED)
    ).all()
    return next((row[0] for row in rows if row[1] == args), None)


@dataclass(frozen=True)
class TaskRecord:
    id: str
    name: str
    args: dict[str, Any]
    state: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    progress: float
    message: str
    error: str | None
    result: dict[str, Any] | None
    worker: str | None


_COLUMNS = [getattr(Task, name) for name in TaskRecord.__dataclass_fields__]


def get(conn: Connection, task_id: str) -> TaskRecord | None:
    row = conn.execute(select(*_COLUMNS).where(Task.id == task_id)).first()
    return None if row is None else TaskRecord(**row._mapping)


def recent(conn: Connection, *, limit: int = 50, state: str | None = None) -> list[TaskRecord]:
    statement = select(*_COLUMNS).order_by(Task.created_at.desc()).limit(limit)
    if state is not None:
        statement = statement.where(Task.state == state)
    return [TaskRecord(**row._mapping) for row in conn.execute(statement)]


def start(conn: Connection, task_id: str, worker: str) -> bool:
    """Move a queued task to running; False when it is not queued (already taken or done)."""
    now = utcnow()
    result = conn.execute(
        update(Task)
        .where(Task.id == task_id, Task.state == QUEUED)
        .values(state=RUNNING, started_at=now, heartbeat_at=now, worker=worker, message="started")
    )
    return result.rowcount == 1


def report(conn: Connection, task_id: str, progress: float, message: str) -> None:
    conn.execute(
        update(Task)
        .where(Task.id == task_id, Task.state == RUNNING)
        .values(progress=min(max(progress, 0.0), 1.0), message=message[:500], heartbeat_at=utcnow())
    )


def beat(conn: Connection, task_id: str) -> None:
    conn.execute(
        update(Task).where(Task.id == task_id, Task.state == RUNNING).values(heartbeat_at=utcnow())
    )


def finish(conn: Connection, task_id: str, result: dict[str, Any]) -> None:
    conn.execute(
        update(Task)
        .where(Task.id == task_id)
        .values(state=SUCCEEDED, finished_at=utcnow(), progress=1.0, result=result, message="done")
    )


def fail(conn: Connection, task_id: str, error: str) -> None:
    conn.execute(
        update(Task)
        .where(Task.id == task_id, Task.state.not_in(FINISHED))
        .values(state=FAILED, finished_at=utcnow(), error=error[:10_000], message="failed")
    )


def reap(conn: Connection, silent_for_s: float) -> int:
    """Fail running tasks whose worker stopped beating (killed, lost): nothing is stuck."""
    cutoff = utcnow() - timedelta(seconds=silent_for_s)
    result = conn.execute(
        update(Task)
        .where(Task.state == RUNNING, Task.heartbeat_at < cutoff)
        .values(
            state=FAILED,
            finished_at=utcnow(),
            message="failed",
            error=f"the worker stopped responding (no heartbeat for {silent_for_s:.0f} s)",
        )
    )
    return int(result.rowcount)


def restart(conn: Connection, task_id: str, worker: str) -> bool:
    """Take over a running task whose worker was lost (for jobs safe to run again)."""
    now = utcnow()
    result = conn.execute(
        update(Task)
        .where(Task.id == task_id, Task.state == RUNNING)
        .values(started_at=now, heartbeat_at=now, worker=worker, message="restarted", progress=0.0)
    )
    return result.rowcount == 1
