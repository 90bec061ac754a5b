"""Running one task by id: state transitions, heartbeats, progress, retries of safe jobs."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError

from recommender.config import Settings
from recommender.store.database import Database
from recommender.tasks import records
from recommender.tasks.jobs import JOBS, JobContext

log = logging.getLogger(__name__)

ATTEMPTS = 3  # for idempotent jobs hit by a passing database fault
TRANSIENT = (OperationalError, DBAPIError)
PROGRESS_EVERY_S = 1.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _Heartbeat:
    """Beats while a job runs and records its latest progress, from a thread of its own.

    The job's progress callback only stores the value in memory: a job may be inside a long
    write transaction (a dump load on SQLite), which a write from its own thread would wait for.
    """

    def __init__(self, db: Database, task_id: str, interval_s: float) -> None:
        self.db = db
        self.task_id = task_id
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._latest: tuple[float, str] | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="task-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def progress(self, fraction: float, message: str) -> None:
        with self._lock:
            self._latest = (fraction, message)

    def _loop(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(PROGRESS_EVERY_S):
            with self._lock:
                latest, self._latest = self._latest, None
            if latest is None and time.monotonic() - last_beat < self.interval_s:
                continue
            try:
                with self.db.write() as conn:
                    if latest is not None:
                        records.report(conn, self.task_id, *latest)
                    else:
                        records.beat(conn, self.task_id)
                last_beat = time.monotonic()
            except Exception as error:  # a missed beat is tolerated by the timeout
                log.warning("heartbeat of task %s failed: %s", self.task_id, error)


def _claim(db: Database, task_id: str, worker: str) -> tuple[str, dict[str, Any]] | None:
    with db.write() as conn:
        row = records.get(conn, task_id)
        if row is None:
            log.error("task %s does not exist", task_id)
            return None
        spec = JOBS.get(row.name)
        if spec is None:
            records.fail(conn, task_id, f"unknown job {row.name!r}")
            return None
        if row.state == records.QUEUED and records.start(conn, task_id, worker):
            return row.name, dict(row.args)
        if row.state == records.RUNNING:
            # Delivered again: the worker that had it died mid-job.
            if spec.idempotent and records.restart(conn, task_id, worker):
                return row.name, dict(row.args)
            records.fail(conn, task_id, "the worker running this job was lost")
        return None


def run_task(
    db: Database,
    settings: Settings,
    task_id: str,
    observer: Callable[[float, str], None] | None = None,
) -> dict[str, Any] | None:
    """Run a queued task to its end and record the outcome; None when there was nothing to
    run (unknown, already finished, or taken over). Re-raises the job's error after
    recording it."""
    claimed = _claim(db, task_id, worker_name())
    if claimed is None:
        return None
    name, args = claimed
    spec = JOBS[name]
    interval = max(1.0, min(10.0, settings.task_heartbeat_timeout_s / 4))
    with _Heartbeat(db, task_id, interval) as heartbeat:

        def progress(fraction: float, message: str) -> None:
            heartbeat.progress(fraction, message)
            if observer is not None:
                observer(fraction, message)

        attempt = 1
        while True:
            try:
                result = spec.run(JobContext(db, settings, task_id, progress), **args)
                break
            except TRANSIENT as error:
                if not spec.idempotent or attempt >= ATTEMPTS:
                    _record_failure(db, task_id, error)
                    raise
                heartbeat.progress(0.0, f"retrying after a database error ({attempt}/{ATTEMPTS})")
                time.sleep(2**attempt)
                attempt += 1
            except Exception as error:
                _record_failure(db, task_id, error)
                raise
    with db.write() as conn:
        records.finish(conn, task_id, result)
    return result


def _record_failure(db: Database, task_id: str, error: BaseException) -> None:
    message = f"{type(error).__name__}: {error}"
    log.error("task %s failed: %s", task_id, message)
    try:
        with db.write() as conn:
            records.fail(conn, task_id, message)
    except Exception:
        # The reaper fails the task once its heartbeat is old enough.
        log.exception("could not record the failure of task %s", task_id)
