"""Recounting popularity's stored counts: one process at a time, every `POPULARITY_REFIT_S`."""

from __future__ import annotations

import logging
import time

from recommender.activity import counts
from recommender.store import state
from recommender.store.database import Database
from recommender.tasks.locks import LockHolder, LockTimeoutError

log = logging.getLogger(__name__)

LOCK = "popularity-counts"
# The lease is renewed while the count runs; a process that dies frees it this soon.
LEASE_S = 60.0


def due(db: Database, refit_s: float, now: float) -> bool:
    """Whether the stored counts are missing, for another catalogue, or older than
    `refit_s`; never while no catalogue is loaded."""
    with db.snapshot() as conn:
        catalog = state.read(conn, state.CATALOG)
        stamp = counts.stamp_of(conn)
    if catalog is None:
        return False
    return stamp is None or stamp.catalog != catalog.version or now - stamp.at >= refit_s


def recount_if_due(db: Database, refit_s: float) -> counts.Stamp | None:
    """Count the store again and store the counts if they are due and no other process is
    counting; returns the new stamp, or None when nothing was stored.

    The database counts in a read transaction, so writers go on meanwhile (at a million users
    that takes a minute); only the rows are written in a write transaction. Counts made on a
    catalogue that was replaced meanwhile are dropped: loading the dump stored its own."""
    if not due(db, refit_s, time.time()):
        return None
    try:
        with LockHolder(db, LOCK, lease_s=LEASE_S, wait_s=0.0):
            # Another process may have stored them while this one waited for the lock.
            if not due(db, refit_s, time.time()):
                return None
            with db.snapshot() as conn:
                catalog = state.read(conn, state.CATALOG)
                if catalog is None:
                    return None
                stamp = counts.Stamp(
                    catalog=catalog.version, through=counts.newest_action(conn), at=time.time()
                )
                counted = counts.count(conn)
            with db.write() as conn:
                now = state.read(conn, state.CATALOG)
                if now is None or now.version != stamp.catalog:
                    return None
                counts.store(conn, counted, stamp)
    except LockTimeoutError:
        return None
    log.info("popularity recounted through action %d", stamp.through)
    return stamp
