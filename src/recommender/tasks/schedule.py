"""Scheduled retraining: on a clock (`TRAIN_INTERVAL`) and after enough new user actions
(`TRAIN_AFTER_ACTIONS`), one training at a time, through the usual quality gate."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from recommender.config import Settings
from recommender.engines import trainable_names
from recommender.store import state
from recommender.store.database import Database
from recommender.store.schema import Task, UserAction
from recommender.tasks import records

log = logging.getLogger(__name__)

# Jobs that retrain: while one is queued or running the schedule waits.
TRAINING_JOBS = ("train", "update")
TRIGGER = "schedule"
# How often the scheduler looks (Celery beat and the embedded executor alike).
TICK_S = 10.0


@dataclass(frozen=True)
class Mark:
    """Where the last scheduled training started: the newest action then, and the time."""

    action_id: int
    at: float

    @classmethod
    def read(cls, conn: Connection) -> Mark | None:
        stored = state.read(conn, state.SCHEDULE)
        if stored is None:
            return None
        values = json.loads(stored.value)
        return cls(action_id=int(values["action_id"]), at=float(values["at"]))

    def write(self, conn: Connection) -> None:
        state.put(conn, state.SCHEDULE, json.dumps({"action_id": self.action_id, "at": self.at}))


def enabled(settings: Settings) -> bool:
    return settings.train_interval > 0 or settings.train_after_actions > 0


def reason_due(settings: Settings, mark: Mark | None, new_actions: int, now: float) -> str | None:
    """Why a training is due now, or None. Without a mark (never scheduled) the clock is due
    at once and the count counts every action."""
    if settings.train_interval > 0 and (mark is None or now - mark.at >= settings.train_interval):
        return f"{settings.train_interval} s since the last scheduled training"
    if settings.train_after_actions > 0 and new_actions >= settings.train_after_actions:
        return f"{new_actions} new user actions"
    return None


def _busy(conn: Connection) -> bool:
    return (
        conn.execute(
            select(Task.id)
            .where(Task.name.in_(TRAINING_JOBS), Task.state.in_((records.QUEUED, records.RUNNING)))
            .limit(1)
        ).first()
        is not None
    )


def restart(db: Database, now: float | None = None) -> None:
    """Start the schedule's count and clock again from now: a training it did not start
    learns from the actions so far, so they are not new to the next one (a server started on a
    store its models were just trained on would otherwise retrain at once)."""
    with db.write() as conn:
        latest = int(conn.execute(select(func.max(UserAction.id))).scalar_one() or 0)
        Mark(action_id=latest, at=time.time() if now is None else now).write(conn)


def tick(
    db: Database, settings: Settings, submit: Callable[..., str], now: float | None = None
) -> list[str]:
    """Enqueue a training job per scheduled engine if they are due and no training is queued
    or running; returns their task ids (none when nothing was due).

    Several processes may tick at once: the mark moves in a write transaction, so only one
    of them sees the training due.
    """
    if not enabled(settings):
        return []
    now = time.time() if now is None else now
    with db.write() as conn:
        if state.read(conn, state.CATALOG) is None or _busy(conn):
            return []
        mark = Mark.read(conn)
        after = mark.action_id if mark is not None else 0
        latest = int(conn.execute(select(func.max(UserAction.id))).scalar_one() or 0)
        new_actions = int(
            conn.execute(
                select(func.count()).select_from(UserAction).where(UserAction.id > after)
            ).scalar_one()
        )
        reason = reason_due(settings, mark, new_actions, now)
        if reason is None:
            return []
        Mark(action_id=latest, at=now).write(conn)
    # A job per engine: with several workers, they train side by side.
    engines = settings.scheduled_engines or trainable_names()
    task_ids = [submit("train", engines=[name], trigger=TRIGGER) for name in engines]
    log.info("scheduled training of %s (%s): %s", ", ".join(engines), ", ".join(task_ids), reason)
    return task_ids
