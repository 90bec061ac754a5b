"""Executors: the same jobs, in the serving process (embedded) or on Celery workers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from recommender.config import Settings
from recommender.store.database import Database
from recommender.tasks import records
from recommender.tasks.jobs import JOBS
from recommender.tasks.runner import run_task

log = logging.getLogger(__name__)


class BrokerUnavailableError(RuntimeError):
    """The job could not be handed to a worker; nothing was enqueued."""


class Executor(Protocol):
    mode: str

    def submit(self, name: str, **args: Any) -> str: ...

    def health(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def _enqueue_row(db: Database, name: str, args: dict[str, Any]) -> tuple[str, bool]:
    """(task id, whether a new task was created); identical queued jobs coalesce."""
    if name not in JOBS:
        raise ValueError(f"unknown job {name!r}")
    with db.write() as conn:
        if JOBS[name].coalesce:
            existing = records.find_queued(conn, name, args)
            if existing is not None:
                return existing, False
        return records.create(conn, name, args), True


def wait_for(db: Database, task_id: str, timeout: float = 60.0, poll_s: float = 0.1) -> Any:
    """Block until a task has finished; returns its row (for the CLI and tests)."""
    deadline = time.monotonic() + timeout
    while True:
        with db.engine.connect() as conn:
            row = records.get(conn, task_id)
        if row is not None and row.state in records.FINISHED:
            return row
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} did not finish within {timeout} s")
        time.sleep(poll_s)


class InProcessExecutor:
    """The embedded default: jobs run one at a time on a thread of the serving process."""

    mode = "in-process"

    def __init__(
        self, db: Database, settings: Settings, on_finished: Callable[[], object] | None = None
    ) -> None:
        self._db = db
        self._settings = settings
        self._on_finished = on_finished
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs")

    def submit(self, name: str, **args: Any) -> str:
        task_id, created = _enqueue_row(self._db, name, args)
        if created:
            self._pool.submit(self._run, task_id)
        return task_id

    def _run(self, task_id: str) -> None:
        try:
            run_task(self._db, self._settings, task_id)
        except Exception:  # recorded in the task row by the runner
            log.debug("task %s failed", task_id, exc_info=True)
        finally:
            if self._on_finished is not None:
                try:
                    self._on_finished()
                except Exception:
                    log.exception("refresh after task %s failed", task_id)

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "mode": self.mode}

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class CeleryExecutor:
    """Jobs go to Celery workers through Redis; only the task id travels in the message."""

    mode = "celery"
    HEALTH_TTL_S = 5.0

    def __init__(self, db: Database, settings: Settings, app: Any = None) -> None:
        from recommender.tasks.celery_app import make_celery

        assert settings.redis_url is not None
        self._db = db
        self._settings = settings
        # A worker passes its own application (to enqueue from a periodic task).
        self._app = app if app is not None else make_celery(settings)
        self._health: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def _redis_ok(self) -> bool:
        import redis

        assert self._settings.redis_url is not None
        client = redis.Redis.from_url(
            self._settings.redis_url, socket_connect_timeout=1, socket_timeout=1
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def submit(self, name: str, **args: Any) -> str:
        if not self._redis_ok():
            raise BrokerUnavailableError(
                "the job broker (Redis) is unreachable: the job was not enqueued; "
                "recommendations and user actions are unaffected; retry later"
            )
        task_id, created = _enqueue_row(self._db, name, args)
        if not created:
            return task_id
        try:
            self._app.send_task(
                "recommender.run_task",
                args=[task_id],
                task_id=task_id,
                time_limit=self._settings.job_time_limit_s,
                soft_time_limit=max(self._settings.job_time_limit_s - 30, 10),
            )
        except Exception as error:
            with self._db.write() as conn:
                records.fail(conn, task_id, f"could not reach the broker: {error}")
            raise BrokerUnavailableError(
                "the job broker (Redis) refused the job; retry later"
            ) from error
        return task_id

    def health(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            if self._health is not None and now - self._health[0] < self.HEALTH_TTL_S:
                return self._health[1]
            result: dict[str, Any]
            if not self._redis_ok():
                result = {"status": "down", "mode": self.mode, "broker": "unreachable"}
            else:
                try:
                    replies = self._app.control.ping(timeout=1.0) or []
                except Exception as error:
                    replies = []
                    log.warning("worker ping failed: %s", error)
                result = {
                    "status": "ok" if replies else "down",
                    "mode": self.mode,
                    "broker": "ok",
                    "workers": sorted(name for reply in replies for name in reply),
                }
            self._health = (now, result)
            return result

    def close(self) -> None:
        self._app.close()


def make_executor(
    db: Database, settings: Settings, on_finished: Callable[[], object] | None = None
) -> Executor:
    if settings.redis_url:
        return CeleryExecutor(db, settings)
    return InProcessExecutor(db, settings, on_finished)
