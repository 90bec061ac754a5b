"""Applying the retention windows: one process at a time, every `RETENTION_INTERVAL_S`."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from recommender.activity import retention
from recommender.config import Settings
from recommender.store.database import Database
from recommender.tasks.locks import LockHolder, LockTimeoutError

log = logging.getLogger(__name__)

LOCK = "retention"
# The lease is renewed while the batches run; a process that dies frees it this soon.
LEASE_S = 60.0


def windows(settings: Settings) -> retention.Windows:
    return retention.Windows(
        impression_days=settings.impression_retention_days,
        action_days=settings.action_retention_days,
    )


class Pruner:
    """Deletes expired activity when its interval has passed in this process and no other
    process holds the lock (each process keeps its own clock: the lock keeps them apart,
    and a pass with nothing to delete costs the lock and two index lookups)."""

    def __init__(self, windows: retention.Windows, interval_s: float) -> None:
        self.windows, self.interval_s = windows, interval_s
        self._last: float | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Pruner:
        return cls(windows(settings), settings.retention_interval_s)

    def __call__(self, db: Database) -> retention.Pruned | None:
        if not self.windows.active:
            return None
        now = time.monotonic()
        if self._last is not None and now - self._last < self.interval_s:
            return None
        self._last = now
        try:
            with LockHolder(db, LOCK, lease_s=LEASE_S, wait_s=0.0):
                return retention.prune(db, self.windows, datetime.now(UTC))
        except LockTimeoutError:
            return None

    def start(self, db: Database) -> None:
        """`__call__` on a thread of its own, unless the last pass is still running: a pass
        over a million rows takes minutes, which the caller (the serving process's poll,
        which also installs new catalogues and models) must not wait for."""
        if not self.windows.active or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._run, args=(db,), name="retention", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Until the pass `start` began has ended (or `timeout` seconds)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, db: Database) -> None:
        try:
            self(db)
        except Exception:  # the next interval tries again
            log.exception("retention pass failed")
