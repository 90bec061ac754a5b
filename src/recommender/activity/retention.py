"""Retention of activity: impressions and user actions older than their windows are deleted.

What is kept whatever its age, and why:
- orders: a user's ordered services are left out of their panels, and every process reads
  them from the actions at start;
- the impressions of running experiments, and the actions linked to them: a running
  experiment's report counts both, and must not change under the operator's eyes.

Rows go in batches of `batch` rows, each in a transaction of its own and followed by a pause,
so that writers wait for one batch at most, never for the whole pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, exists, select
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from recommender.store.database import Database
from recommender.store.schema import Experiment, Recommendation, UserAction

log = logging.getLogger(__name__)

BATCH = 1_000
# The largest share of a pass's time it holds SQLite's write lock, which every writer of the
# file needs. PostgreSQL's writers of new rows never wait for the deletes (row locks), so
# there a pass runs its batches back to back: that doubled its speed and left writers'
# commit p99 as it was (`benchmarks/retention.py`).
SQLITE_BUSY_SHARE = 0.5


@dataclass(frozen=True)
class Windows:
    """Days of impressions and of user actions to keep; 0 keeps them all."""

    impression_days: float = 0.0
    action_days: float = 0.0

    @property
    def active(self) -> bool:
        return self.impression_days > 0 or self.action_days > 0


@dataclass(frozen=True)
class Pruned:
    impressions: int = 0
    actions: int = 0


def _in_running_experiment(
    impression_experiment: InstrumentedAttribute[int | None],
) -> ColumnElement[bool]:
    return exists(
        select(Experiment.id).where(
            Experiment.id == impression_experiment,
            # Stopping or promoting an experiment stamps it; a running one has no stamp.
            Experiment.stopped_at.is_(None),
        )
    )


def _expired_impressions(cut: datetime) -> ColumnElement[bool]:
    return (Recommendation.created_at < cut) & ~_in_running_experiment(Recommendation.experiment_id)


def _expired_actions(cut: datetime) -> ColumnElement[bool]:
    kept_impression = exists(
        select(Recommendation.id).where(
            Recommendation.id == UserAction.recommendation_id,
            _in_running_experiment(Recommendation.experiment_id),
        )
    )
    return (UserAction.timestamp < cut) & ~UserAction.is_order & ~kept_impression


def _delete_batch(
    conn: Connection,
    table: type[Recommendation | UserAction],
    where: ColumnElement[bool],
    batch: int,
) -> int:
    # PostgreSQL's DELETE takes no LIMIT: the batch's ids are chosen first.
    chosen = list(conn.scalars(select(table.id).where(where).order_by(table.id).limit(batch)))
    if not chosen:
        return 0
    conn.execute(delete(table).where(table.id.in_(chosen)))
    return len(chosen)


def _delete_all(
    write: Callable[[], AbstractContextManager[Connection]],
    table: type[Recommendation | UserAction],
    where: ColumnElement[bool],
    batch: int,
    busy_share: float,
) -> int:
    deleted = 0
    while True:
        began = time.perf_counter()
        with write() as conn:
            done = _delete_batch(conn, table, where, batch)
        deleted += done
        if done < batch:
            return deleted
        # Waiting writers must get their turn: SQLite's busy handler polls with growing
        # sleeps, so a pass that began the next batch at once kept them out to its end
        # (`benchmarks/retention.py`: a p99 commit of 1.4 s against 8 ms).
        if busy_share < 1:
            busy = time.perf_counter() - began
            time.sleep(busy * (1 - busy_share) / busy_share)


def prune(
    db: Database,
    windows: Windows,
    now: datetime,
    *,
    batch: int = BATCH,
    busy_share: float | None = None,
) -> Pruned:
    """Delete what is older than its window, batch by batch, each batch in a write
    transaction of its own and followed by a pause, so that the pass holds the write lock for
    at most `busy_share` of its time (by default half on SQLite, all on PostgreSQL); returns
    how many rows of each went."""
    if busy_share is None:
        busy_share = SQLITE_BUSY_SHARE if db.engine.dialect.name == "sqlite" else 1.0
    write = db.write
    actions = impressions = 0
    if windows.action_days > 0:
        where = _expired_actions(now - timedelta(days=windows.action_days))
        actions = _delete_all(write, UserAction, where, batch, busy_share)
    if windows.impression_days > 0:
        where = _expired_impressions(now - timedelta(days=windows.impression_days))
        impressions = _delete_all(write, Recommendation, where, batch, busy_share)
    if actions or impressions:
        log.info("retention deleted %d impressions and %d user actions", impressions, actions)
    return Pruned(impressions=impressions, actions=actions)
