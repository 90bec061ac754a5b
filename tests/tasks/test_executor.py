from __future__ import annotations

import time

import orjson
import pytest
from sqlalchemy import update

from recommender.catalog import uploads
from recommender.config import Settings
from recommender.engines import trainable_names
from recommender.store.database import Database
from recommender.store.schema import Task
from recommender.tasks import locks, records
from recommender.tasks.executor import InProcessExecutor, wait_for
from recommender.tasks.jobs import training_lock
from recommender.tasks.runner import run_task
from tests.factories import two_communities


def settings_for(db: Database) -> Settings:
    return Settings(_env_file=None, database_url=db.url)


def test_a_load_runs_through_its_states(db: Database) -> None:
    dump_id = uploads.accept(db, orjson.dumps(two_communities()))
    executor = InProcessExecutor(db, settings_for(db))
    try:
        task_id = executor.submit("load_dump", dump_id=dump_id)
        row = wait_for(db, task_id)
    finally:
        executor.close()
    assert row.state == "succeeded", row.error
    assert row.result["counts"]["services"] == 12
    assert row.started_at <= row.finished_at and row.progress == 1.0


def test_a_failing_job_records_its_error(db: Database) -> None:
    executor = InProcessExecutor(db, settings_for(db))
    try:
        row = wait_for(db, executor.submit("load_dump", dump_id=424242))
    finally:
        executor.close()
    assert row.state == "failed"
    assert "dump 424242 does not exist" in row.error


def test_repeated_training_requests_join_the_queued_one(db: Database) -> None:
    executor = InProcessExecutor(db, settings_for(db))
    # Holding the lock of the first engine it trains keeps the first job running, so later
    # ones stay queued.
    holder = locks.LockHolder(db, training_lock(trainable_names()[0]), lease_s=60, wait_s=5)
    holder.__enter__()
    try:
        first = executor.submit("train", engine=None)
        while True:  # until the first one runs (and waits for the lock)
            with db.engine.connect() as conn:
                running = records.get(conn, first)
            if running is not None and running.state == "running":
                break
            time.sleep(0.05)
        second = executor.submit("train", engine=None)
        third = executor.submit("train", engine=None)
        other = executor.submit("train", engine="ease")
        assert second == third != first
        assert other not in (first, second)
    finally:
        holder.__exit__(None, None, None)
        for task_id in (first, second, other):
            wait_for(db, task_id, timeout=120)
        executor.close()


def test_a_job_delivered_again_after_its_worker_died(db: Database) -> None:
    settings = settings_for(db)
    with db.write() as conn:
        training = records.create(conn, "train", {"engine": "ease"})
        loading = records.create(conn, "load_dump", {"dump_id": 1})
        records.start(conn, training, "dead-worker")
        records.start(conn, loading, "dead-worker")
    # A training is not safe to repeat: it is failed, not run twice.
    assert run_task(db, settings, training) is None
    with db.engine.connect() as conn:
        failed = records.get(conn, training)
    assert failed is not None and failed.state == "failed" and "lost" in (failed.error or "")
    # A load is: the new worker takes it over (and fails here only because dump 1 is absent).
    with pytest.raises(LookupError, match="dump 1 does not exist"):
        run_task(db, settings, loading)
    with db.engine.connect() as conn:
        retried = records.get(conn, loading)
    assert retried is not None and retried.worker != "dead-worker"


def test_finished_tasks_are_never_run_again(db: Database) -> None:
    with db.write() as conn:
        task_id = records.create(conn, "load_dump", {"dump_id": 1})
        conn.execute(update(Task).where(Task.id == task_id).values(state="succeeded"))
    assert run_task(db, settings_for(db), task_id) is None
