"""The embedded executor: background jobs on a thread of the serving process."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class InProcessExecutor:
    """Runs one job at a time, in submission order, on a single background thread."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs")
        self._futures: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()

    def submit(self, name: str, job: Callable[[], Any]) -> str:
        task_id = str(uuid.uuid4())

        def run() -> Any:
            try:
                return job()
            except Exception:
                log.exception("job %s (%s) failed", name, task_id)
                raise

        with self._lock:
            self._futures[task_id] = self._pool.submit(run)
        return task_id

    def wait(self, task_id: str, timeout: float | None = None) -> Any:
        return self._futures[task_id].result(timeout=timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
