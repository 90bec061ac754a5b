"""Activity per day, as the dashboard's overview charts it."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import update

from recommender.activity import actions, impressions
from recommender.activity.traffic import daily
from recommender.contract.user_actions import UserActionIn
from recommender.store.database import Database
from recommender.store.schema import Recommendation
from tests.factories import impression, user_action


def served_on(db: Database, moment: datetime) -> None:
    with db.write() as conn:
        shown = impressions.write(conn, impression())
        conn.execute(
            update(Recommendation).where(Recommendation.id == shown).values(created_at=moment)
        )


def acted_on(db: Database, moment: str, *, order: bool = False) -> None:
    body = user_action(timestamp=moment)
    body["action"]["order"] = order
    with db.write() as conn:
        actions.record(conn, UserActionIn.model_validate(body))


def test_counts_fall_on_their_utc_day_and_empty_days_are_zero(db: Database) -> None:
    served_on(db, datetime(2026, 11, 25, 23, 59, tzinfo=UTC))
    served_on(db, datetime(2026, 11, 27, 0, 0, 1, tzinfo=UTC))
    served_on(db, datetime(2026, 11, 27, 18, 0, tzinfo=UTC))
    served_on(db, datetime(2026, 11, 20, 12, 0, tzinfo=UTC))  # before the window
    acted_on(db, "2026-11-27T01:00:00+02:00")  # 23:00 UTC the day before
    acted_on(db, "2026-11-27T10:00:00Z", order=True)
    with db.engine.connect() as conn:
        counts = daily(conn, days=3, today=date(2026, 11, 27))
    assert counts.days == [date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)]
    assert counts.impressions == [1, 0, 2]
    assert counts.actions == [0, 1, 1]
    assert counts.orders == [0, 0, 1]


def test_nothing_stored_is_all_zeros(db: Database) -> None:
    with db.engine.connect() as conn:
        counts = daily(conn, days=7, today=date(2026, 11, 27))
    assert len(counts.days) == 7 and counts.impressions == [0] * 7 and counts.actions == [0] * 7
