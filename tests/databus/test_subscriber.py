"""The subscriber against the real broker and the real databases: what it stores, once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from recommender.databus import status
from recommender.store.database import Database
from recommender.store.schema import DeadLetter, UserAction
from tests.databus.conftest import (
    Bus,
    SubscriberThread,
    eventually,
    listen,
    publish,
    report,
    subscribed,
)
from tests.factories import user_action

pytestmark = [pytest.mark.databus]


def action_body(number: int, **fields: Any) -> str:
    return json.dumps(
        user_action(
            unique_id=f"browser-{number % 7}",
            target={"visit_id": f"visit-{number}", "page_id": f"/services/{number % 5 + 1}"},
            **fields,
        )
    )


def stored_visits(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return [str(v) for v in conn.execute(select(UserAction.target_visit_id)).scalars()]


def count(db: Database, table: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def reported(db: Database, bus: Bus, counter: str) -> int:
    row = report(db, bus.subscription)
    return -1 if row is None else int(getattr(row, counter))


def running(bus: Bus, db: Database, **settings: Any) -> SubscriberThread:
    thread = SubscriberThread(bus.settings(db.url, **settings)).start()
    try:
        eventually(lambda: subscribed(db, bus.subscription), 30, "the subscription")
    except BaseException:
        thread.stop()
        raise
    return thread


def test_every_message_becomes_one_stored_action(bus: Bus, db: Database) -> None:
    subscriber = running(bus, db)
    try:
        publish(bus.actions_topic, [action_body(n) for n in range(300)])
        eventually(lambda: count(db, UserAction) >= 300, 60, "300 stored actions")
        eventually(lambda: reported(db, bus, "stored") == 300, 10, "a report of 300 stored")
    finally:
        subscriber.stop()
    assert sorted(stored_visits(db)) == sorted(f"visit-{n}" for n in range(300))
    with db.engine.connect() as conn:
        first = (
            conn.execute(
                select(UserAction.__table__).where(UserAction.target_visit_id == "visit-3")
            )
            .mappings()
            .one()
        )
    # Stored as `POST /user_actions` stores it: resolved service, the root, and its digest.
    assert (first["unique_id"], first["target_page_id"], first["service_id"]) == (
        "browser-3",
        "/services/4",
        1,
    )
    assert first["root_type"] == "recommendation_panel" and len(first["message_digest"]) == 64
    row = report(db, bus.subscription)
    assert row is not None and row.state == status.STOPPED
    assert (row.consumed, row.stored, row.duplicates, row.dead_lettered) == (300, 300, 0, 0)
    assert row.lag_p99_s is not None and 0 <= row.lag_p99_s < 30


def test_a_message_sent_again_is_stored_once(bus: Bus, db: Database) -> None:
    subscriber = running(bus, db)
    try:
        once, twice = action_body(1), action_body(2)
        publish(bus.actions_topic, [once, twice, twice, once, twice])
        eventually(lambda: reported(db, bus, "consumed") == 5, 30, "five messages consumed")
    finally:
        subscriber.stop()
    assert sorted(stored_visits(db)) == ["visit-1", "visit-2"]
    row = report(db, bus.subscription)
    assert row is not None and (row.stored, row.duplicates) == (2, 3)


def test_a_malformed_message_is_kept_as_a_dead_letter_with_the_reason(
    bus: Bus, db: Database
) -> None:
    bad_field = json.loads(action_body(2))
    del bad_field["target"]["page_id"]
    dead_topic, dead = listen(bus.dead_letter_topic)
    subscriber = running(bus, db)
    try:
        publish(
            bus.actions_topic,
            [action_body(1), json.dumps(bad_field), b"{not json", b"\xff\xfe", action_body(3)],
        )
        eventually(lambda: count(db, DeadLetter) == 3, 30, "three dead letters")
        eventually(lambda: len(dead.frames) == 3, 30, "three messages on the dead-letter topic")
    finally:
        subscriber.stop()
        dead_topic.disconnect()
    assert sorted(stored_visits(db)) == ["visit-1", "visit-3"]
    with db.engine.connect() as conn:
        letters = conn.execute(select(DeadLetter.__table__).order_by(DeadLetter.id)).all()
    assert letters[0].errors == {"target.page_id": "Field required"}
    assert "target.page_id: Field required" in letters[0].reason
    assert json.loads(letters[0].body) == bad_field
    assert letters[1].errors == {"body": "body is not valid JSON"}
    assert letters[2].body == b"\xff\xfe"
    assert all(letter.destination == bus.actions_topic for letter in letters)
    reasons = sorted(headers["x-dead-letter-reason"] for headers, _ in dead.frames)
    assert reasons == sorted(letter.reason for letter in letters)
    row = report(db, bus.subscription)
    assert row is not None and (row.stored, row.dead_lettered) == (2, 3)


def test_messages_published_while_no_subscriber_runs_are_kept_for_it(
    bus: Bus, db: Database
) -> None:
    running(bus, db).stop()  # the durable subscription now exists, with nobody on it
    publish(bus.actions_topic, [action_body(n) for n in range(50)])
    subscriber = running(bus, db)
    try:
        eventually(lambda: count(db, UserAction) == 50, 30, "the 50 kept messages")
    finally:
        subscriber.stop()
