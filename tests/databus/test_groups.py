"""Messages stored a group at a time: each once, duplicates found, a bad one sinking no other."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from sqlalchemy import Connection, exc, func, select

from recommender.activity import impressions
from recommender.contract.user_actions import UserActionIn
from recommender.databus import ingest
from recommender.databus.ingest import Item, Outcome, ingest_many, store_action
from recommender.databus.messages import incoming, read_action
from recommender.store.database import Database
from recommender.store.schema import DeadLetter, UserAction
from recommender.store.writer import Writer
from tests.databus.conftest import Bus, SubscriberThread, eventually, publish, report, subscribed
from tests.factories import impression, user_action

TOPIC = "/topic/user_actions"


def body(target: str, **fields: Any) -> bytes:
    action = user_action(target={"visit_id": target, "page_id": "/services/1"}, **fields)
    return json.dumps(action).encode()


def item(raw: bytes) -> Item:
    return incoming(TOPIC, {}, raw), read_action(raw, 100_000)


def links(db: Database) -> dict[str, int | None]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(UserAction.target_visit_id, UserAction.recommendation_id))
        return {str(visit): link for visit, link in rows}


def consumed(db: Database, bus: Bus) -> int:
    row = report(db, bus.subscription)
    return -1 if row is None else row.consumed


def count(db: Database, table: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_mixed_group_stores_each_action_once_and_keeps_each_dead_letter(db: Database) -> None:
    with db.write() as conn:
        shown = impressions.write(conn, impression(visit_id="visit-1", panel_id="v1"))
        earlier = item(body("earlier"))
        assert store_action(conn, earlier[0], UserActionIn.model_validate_json(earlier[0].body))
    group = [
        item(body("a")),
        item(body("b", recommendation_id=shown)),  # names its impression
        item(body("a")),  # the same body again, in the same group
        earlier,  # stored before this group
        item(b"{not json"),
        item(body("c")),  # an old-style click on visit-1's v1 panel
        item(b"{not json"),  # the same dead letter again
        item(body("d", recommendation_id=987_654)),  # names an impression that is not there
    ]
    with db.write() as conn:
        outcomes = ingest_many(conn, group)
    S, D, X = Outcome.STORED, Outcome.DUPLICATE, Outcome.DEAD_LETTERED
    assert outcomes == [S, S, D, D, X, S, D, S]
    assert links(db) == {"earlier": shown, "a": shown, "b": shown, "c": shown, "d": None}
    assert (count(db, UserAction), count(db, DeadLetter)) == (5, 1)
    # Delivered again, the whole group stores nothing.
    with db.write() as conn:
        assert ingest_many(conn, group) == [D] * len(group)
    assert (count(db, UserAction), count(db, DeadLetter)) == (5, 1)


def test_a_message_the_store_refuses_sinks_no_other_of_its_group(db: Database) -> None:
    """The writer runs the group again one message per transaction; the refused one fails (the
    subscriber then dead-letters it) and every other is stored once."""
    writer = Writer(db)
    writer.start()
    taken, release = threading.Event(), threading.Event()

    def hold(conn: Connection) -> None:
        taken.set()
        release.wait(10)

    try:
        writer.submit(hold)
        assert taken.wait(10)
        good = [item(body(f"good-{n}")) for n in range(5)]
        message, valid = item(body("refused"))
        assert isinstance(valid, UserActionIn)
        # Valid for the contract, refused by the store (a column that takes no NULL).
        refused: Item = (message, valid.model_copy(update={"unique_id": None}))
        futures = [writer.submit_item(ingest_many, one) for one in [*good[:2], refused, *good[2:]]]
        release.set()
        with pytest.raises(exc.IntegrityError):
            futures[2].result(timeout=30)
        results = [f.result(timeout=30) for n, f in enumerate(futures) if n != 2]
    finally:
        writer.stop()
    assert results == [Outcome.STORED] * 5
    assert sorted(links(db)) == [f"good-{n}" for n in range(5)]


@pytest.mark.databus
def test_a_backlog_with_duplicates_bad_messages_and_clicks_adds_up(
    bus: Bus, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []

    def counted(conn: Connection, items: list[Item]) -> list[Outcome]:
        sizes.append(len(items))
        return ingest.ingest_many(conn, items)

    monkeypatch.setattr("recommender.databus.subscriber.ingest_many", counted)
    with db.write() as conn:
        shown = impressions.write(conn, impression(visit_id="visit-1", panel_id="v1"))
    distinct = [body(f"visit-{n + 10}", recommendation_id=shown) for n in range(200)]
    # A NUL character: PostgreSQL refuses it in text (a dead letter), SQLite stores it.
    nul = body("nul", unique_id="browser\u0000one")
    sent = [*distinct, *distinct[:20], b"{not json", b"[]", nul, body("unknown", user_id=5)]
    first = SubscriberThread(bus.settings(db.url)).start()
    try:  # the durable subscription then exists, and keeps what is published meanwhile
        eventually(lambda: subscribed(db, bus.subscription), 30, "the subscription")
    finally:
        first.stop()
    publish(bus.actions_topic, sent)
    subscriber = SubscriberThread(bus.settings(db.url)).start()
    try:
        eventually(lambda: count(db, UserAction) + count(db, DeadLetter) >= 204, 60, "every row")
        eventually(lambda: consumed(db, bus) == len(sent), 10, "the counts of every message")
    finally:
        subscriber.stop()
    refused = db.url.startswith("postgresql")
    row = report(db, bus.subscription)
    assert row is not None
    assert row.stored + row.duplicates + row.dead_lettered == row.consumed == len(sent)
    assert (row.stored, row.duplicates, row.dead_lettered) == (202 - refused, 20, 2 + refused)
    assert (count(db, UserAction), count(db, DeadLetter)) == (202 - refused, 2 + refused)
    stored = links(db)
    assert all(stored[f"visit-{n + 10}"] == shown for n in range(200))
    assert stored["unknown"] == shown  # an old-style click on visit-1's v1 panel
    assert max(sizes) > 1, "the backlog was never stored a group at a time"
