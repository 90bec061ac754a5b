from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from recommender.store.database import Database
from recommender.store.schema import Task, utcnow
from recommender.tasks import records


def test_lifecycle(db: Database) -> None:
    with db.write() as conn:
        task_id = records.create(conn, "train", {"engine": "ease"})
        assert records.start(conn, task_id, "w1")
        assert not records.start(conn, task_id, "w2"), "a task is taken once"
        records.report(conn, task_id, 0.5, "half")
        records.finish(conn, task_id, {"ok": True})
        row = records.get(conn, task_id)
    assert row is not None
    assert (row.state, row.progress, row.result, row.worker) == (
        "succeeded",
        1.0,
        {"ok": True},
        "w1",
    )
    assert row.started_at is not None and row.finished_at is not None


def test_identical_queued_jobs_are_found(db: Database) -> None:
    with db.write() as conn:
        first = records.create(conn, "train", {"engine": None})
        assert records.find_queued(conn, "train", {"engine": None}) == first
        assert records.find_queued(conn, "train", {"engine": "ease"}) is None


def test_silent_running_tasks_are_reaped(db: Database) -> None:
    with db.write() as conn:
        stale = records.create(conn, "train", {})
        fresh = records.create(conn, "train", {})
        records.start(conn, stale, "dead")
        records.start(conn, fresh, "alive")
        conn.execute(
            update(Task)
            .where(Task.id == stale)
            .values(heartbeat_at=utcnow() - timedelta(minutes=10))
        )
        assert records.reap(conn, silent_for_s=60) == 1
        dead = records.get(conn, stale)
        alive = records.get(conn, fresh)
    assert (
        dead is not None and dead.state == "failed" and "stopped responding" in (dead.error or "")
    )
    assert alive is not None and alive.state == "running"
