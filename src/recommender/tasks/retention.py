"""Applying the retention windows: one process at a time, every `RETENTION_INTERVAL_S`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from recommender.activity import retention
from recommender.config import Settings
from recommender.store.database import Database
from recommender.tasks.locks import LockHolder, LockTimeoutError

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
