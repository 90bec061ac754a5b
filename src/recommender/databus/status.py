"""A subscriber's reports in the store: its state and counts, and what `/health` makes of them.

The subscriber is a process of its own; it writes one row per subscription every few seconds,
so that any API process can say whether it runs and Prometheus can count what it did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from recommender.store.schema import Subscriber, utcnow

REPORT_EVERY_S = 2.0
# A subscriber silent for longer has stopped (or cannot reach the store).
STALE_AFTER_S = 15.0

# The states a subscriber reports.
CONNECTING = "connecting"
SUBSCRIBED = "subscribed"
RECONNECTING = "reconnecting"
STORE_UNAVAILABLE = "store unavailable"
STOPPED = "stopped"


@dataclass
class Counts:
    """Messages since the last report, by what became of them."""

    consumed: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0

    def add(self, other: Counts) -> None:
        self.consumed += other.consumed
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.dead_lettered += other.dead_lettered


@dataclass(frozen=True)
class Report:
    subscription: str
    state: str
    detail: str
    destination: str
    broker: str
    started_at: datetime
    counts: Counts
    lags_s: Sequence[float] = ()


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (`q` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def write(conn: Connection, report: Report) -> None:
    """Add the report's counts to the subscription's row and replace its state."""
    counts = report.counts
    state: dict[str, Any] = {
        "state": report.state,
        "detail": report.detail,
        "destination": report.destination,
        "broker": report.broker,
        "started_at": report.started_at,
        "heartbeat_at": utcnow(),
    }
    if report.lags_s:  # else the lag of the latest messages stays
        state["lag_p50_s"] = percentile(report.lags_s, 50)
        state["lag_p99_s"] = percentile(report.lags_s, 99)
    changed = conn.execute(
        update(Subscriber)
        .where(Subscriber.subscription == report.subscription)
        .values(
            {
                **state,
                "consumed": Subscriber.consumed + counts.consumed,
                "stored": Subscriber.stored + counts.stored,
                "duplicates": Subscriber.duplicates + counts.duplicates,
                "dead_lettered": Subscriber.dead_lettered + counts.dead_lettered,
            }
        )
    ).rowcount
    if not changed:
        conn.execute(
            insert(Subscriber).values(
                {
                    **state,
                    "subscription": report.subscription,
                    "consumed": counts.consumed,
                    "stored": counts.stored,
                    "duplicates": counts.duplicates,
                    "dead_lettered": counts.dead_lettered,
                }
            )
        )


@dataclass(frozen=True)
class Reported:
    """A subscription's row as last written."""

    subscription: str
    state: str
    detail: str
    destination: str
    broker: str
    started_at: datetime
    heartbeat_at: datetime
    consumed: int
    stored: int
    duplicates: int
    dead_lettered: int
    lag_p50_s: float | None
    lag_p99_s: float | None


def read(conn: Connection, subscription: str) -> Reported | None:
    row = (
        conn.execute(select(Subscriber.__table__).where(Subscriber.subscription == subscription))
        .mappings()
        .first()
    )
    return None if row is None else Reported(**row)


def health(row: Reported | None, subscription: str, now: datetime) -> dict[str, Any]:
    """`ok` while the subscriber reports, recently, that it is subscribed."""
    if row is None:
        return {
            "status": "down",
            "subscription": subscription,
            "message": "no subscriber has reported: run `recommender subscribe`",
        }
    age = (now - row.heartbeat_at).total_seconds()
    fresh = age <= STALE_AFTER_S
    part: dict[str, Any] = {
        "status": "ok" if fresh and row.state == SUBSCRIBED else "down",
        "subscription": subscription,
        "state": row.state if fresh else "silent",
        "last_report_s_ago": round(age, 1),
        "destination": row.destination,
        "broker": row.broker,
        "consumed": row.consumed,
        "stored": row.stored,
        "duplicates": row.duplicates,
        "dead_lettered": row.dead_lettered,
        "lag_p99_s": row.lag_p99_s,
    }
    if row.detail:
        part["detail"] = row.detail
    return part
