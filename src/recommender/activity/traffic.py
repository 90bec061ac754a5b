"""Activity counted per day (UTC): panels served, user actions and orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Connection, func, select
from sqlalchemy.orm import InstrumentedAttribute

from recommender.store.schema import Recommendation, UserAction


@dataclass(frozen=True)
class DailyActivity:
    """Counts for each of the last `len(days)` days, oldest first, days without any as 0."""

    days: list[date]
    impressions: list[int]
    actions: list[int]
    orders: list[int]


def _day(conn: Connection, column: InstrumentedAttribute[datetime]) -> ColumnElement[str]:
    # Timestamps are stored in UTC: SQLite as naive text, PostgreSQL as timestamptz.
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.date(column)


def _per_day(
    conn: Connection,
    column: InstrumentedAttribute[datetime],
    since: datetime,
    *where: ColumnElement[bool],
) -> dict[str, int]:
    day = _day(conn, column).label("day")
    statement = select(day, func.count()).where(column >= since, *where).group_by(day)
    return {str(d): int(n) for d, n in conn.execute(statement)}


def daily(conn: Connection, *, days: int, today: date) -> DailyActivity:
    """Impressions by when they were served, actions by the portal's timestamp; both read
    through their time index, never the whole table."""
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    served = _per_day(conn, Recommendation.created_at, since)
    acted = _per_day(conn, UserAction.timestamp, since)
    ordered = _per_day(conn, UserAction.timestamp, since, UserAction.is_order.is_(True))
    calendar = [first + timedelta(days=n) for n in range(days)]
    keys = [d.isoformat() for d in calendar]
    return DailyActivity(
        days=calendar,
        impressions=[served.get(k, 0) for k in keys],
        actions=[acted.get(k, 0) for k in keys],
        orders=[ordered.get(k, 0) for k in keys],
    )
