"""Named leases in the database, so that long jobs never interleave, on any executor."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import insert, or_, update
from sqlalchemy.exc import IntegrityError

from recommender.store.database import Database
from recommender.store.schema import Lock, utcnow


class LockTimeoutError(TimeoutError):
    pass


def try_acquire(db: Database, name: str, owner: str, lease_s: float) -> bool:
    expires = utcnow() + timedelta(seconds=lease_s)
    with db.write() as conn:
        taken = conn.execute(
            update(Lock)
            .where(
                Lock.name == name,
                or_(Lock.owner.is_(None), Lock.owner == owner, Lock.expires_at < utcnow()),
            )
            .values(owner=owner, expires_at=expires)
        ).rowcount
        if taken:
            return True
        try:
            with conn.begin_nested():
                conn.execute(insert(Lock).values(name=name, owner=owner, expires_at=expires))
            return True
        except IntegrityError:
            return False


def renew(db: Database, name: str, owner: str, lease_s: float) -> bool:
    with db.write() as conn:
        return bool(
            conn.execute(
                update(Lock)
                .where(Lock.name == name, Lock.owner == owner)
                .values(expires_at=utcnow() + timedelta(seconds=lease_s))
            ).rowcount
        )


def release(db: Database, name: str, owner: str) -> None:
    with db.write() as conn:
        conn.execute(update(Lock).where(Lock.name == name, Lock.owner == owner).values(owner=None))


class LockHolder:
    """Holds a lock for a `with` block, renewing its lease from a thread while the block runs.

    Waits up to `wait_s` for the lock. If the process dies, the lease runs out and the next
    job may proceed.
    """

    def __init__(self, db: Database, name: str, *, lease_s: float, wait_s: float) -> None:
        self.db = db
        self.name = name
        self.lease_s = lease_s
        self.wait_s = wait_s
        self.owner = uuid.uuid4().hex
        self.held_from: datetime | None = None
        self.held_until: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LockHolder:
        deadline = time.monotonic() + self.wait_s
        while not try_acquire(self.db, self.name, self.owner, self.lease_s):
            if time.monotonic() >= deadline:
                raise LockTimeoutError(f"lock {self.name!r} is held by another job")
            time.sleep(0.5)
        self.held_from = utcnow()
        self._thread = threading.Thread(target=self._renew, name=f"lock-{self.name}", daemon=True)
        self._thread.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                renew(self.db, self.name, self.owner, self.lease_s)
            except Exception:  # the next attempt may succeed; the lease covers a few misses
                continue

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        release(self.db, self.name, self.owner)
        self.held_until = utcnow()

    def span(self) -> dict[str, str | None]:
        """When the lock was held, for a job's result (shows that jobs never interleave)."""
        return {
            "from": self.held_from.isoformat() if self.held_from else None,
            "until": self.held_until.isoformat() if self.held_until else None,
        }
