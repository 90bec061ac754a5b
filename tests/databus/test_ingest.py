"""Storing databus messages on SQLite and PostgreSQL: once each, dead letters kept, counts added."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from recommender.contract.user_actions import UserActionIn
from recommender.databus import status
from recommender.databus.ingest import Outcome, dead_letter, store_action
from recommender.databus.messages import Rejection, incoming
from recommender.store.database import Database
from recommender.store.schema import DeadLetter, UserAction, utcnow
from tests.factories import user_action


def rows(db: Database, table: type[UserAction] | type[DeadLetter]) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_an_action_is_stored_once_however_often_its_message_comes(db: Database) -> None:
    body = json.dumps(user_action()).encode()
    message = incoming("/topic/user_actions", {}, body)
    action = UserActionIn.model_validate_json(body)
    with db.write() as conn:
        assert store_action(conn, message, action) is Outcome.STORED
        assert store_action(conn, message, action) is Outcome.DUPLICATE
    with db.write() as conn:
        assert store_action(conn, message, action) is Outcome.DUPLICATE
    assert rows(db, UserAction) == 1


def test_a_dead_letter_is_kept_once_with_its_reason(db: Database) -> None:
    message = incoming("/topic/user_actions", {"x-origin": "portal"}, b"{oops")
    refused = Rejection("Input payload validation failed", {"body": "body is not valid JSON"})
    with db.write() as conn:
        assert dead_letter(conn, message, refused) is Outcome.DEAD_LETTERED
        assert dead_letter(conn, message, refused) is Outcome.DUPLICATE
    with db.engine.connect() as conn:
        letter = conn.execute(select(DeadLetter.__table__)).one()
    assert letter.body == b"{oops" and letter.headers == {"x-origin": "portal"}
    assert letter.reason == "Input payload validation failed: body: body is not valid JSON"
    assert rows(db, DeadLetter) == 1


def test_reports_add_up_and_say_whether_the_subscriber_is_there(db: Database) -> None:
    def report(state: str, stored: int, lags: list[float]) -> status.Report:
        return status.Report(
            subscription="s",
            state=state,
            detail="",
            destination="/topic/user_actions",
            broker="stomp://broker:61613",
            started_at=utcnow(),
            counts=status.Counts(consumed=stored + 1, stored=stored, duplicates=1),
            lags_s=lags,
        )

    with db.write() as conn:
        status.write(conn, report(status.SUBSCRIBED, 10, [0.1] * 99 + [2.0]))
        status.write(conn, report(status.SUBSCRIBED, 5, []))
    with db.engine.connect() as conn:
        row = status.read(conn, "s")
        assert status.read(conn, "other") is None
    assert row is not None
    assert (row.consumed, row.stored, row.duplicates) == (17, 15, 2)
    assert (row.lag_p50_s, row.lag_p99_s) == (0.1, 0.1)  # kept from the report that had lags
    now = row.heartbeat_at
    assert status.health(row, "s", now)["status"] == "ok"
    late = status.health(row, "s", now + timedelta(seconds=status.STALE_AFTER_S + 1))
    assert (late["status"], late["state"]) == ("down", "silent")
    assert "recommender subscribe" in status.health(None, "s", now)["message"]


def test_percentiles_by_nearest_rank() -> None:
    assert status.percentile([], 99) is None
    assert status.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert status.percentile([float(n) for n in range(1, 101)], 99) == 99.0
    assert status.percentile([5.0], 99) == 5.0
