from __future__ import annotations

import threading
import time

import pytest

from recommender.store.database import Database
from recommender.tasks import locks


def test_a_lock_is_exclusive_until_released_or_expired(db: Database) -> None:
    assert locks.try_acquire(db, "pipeline", "a", lease_s=60)
    assert not locks.try_acquire(db, "pipeline", "b", lease_s=60)
    locks.release(db, "pipeline", "a")
    assert locks.try_acquire(db, "pipeline", "b", lease_s=0.2)
    time.sleep(0.5)
    assert locks.try_acquire(db, "pipeline", "c", lease_s=60), "an expired lease is free"


def test_holders_never_overlap(db: Database) -> None:
    spans: list[tuple[float, float]] = []

    def job() -> None:
        with locks.LockHolder(db, "pipeline", lease_s=30, wait_s=30):
            began = time.monotonic()
            time.sleep(0.3)
            spans.append((began, time.monotonic()))

    threads = [threading.Thread(target=job) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans.sort()
    assert len(spans) == 3
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(2))


def test_waiting_too_long_is_an_error(db: Database) -> None:
    assert locks.try_acquire(db, "pipeline", "other", lease_s=60)
    with (
        pytest.raises(locks.LockTimeoutError),
        locks.LockHolder(db, "pipeline", lease_s=5, wait_s=0.5),
    ):
        pass
