"""None lost, none doubled: a stream of 10,000 actions through a broker restart and a subscriber
killed with SIGKILL, both in the middle of the stream."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from recommender.store.database import Database
from recommender.store.schema import DeadLetter, UserAction
from tests.databus.conftest import (
    Bus,
    SubscriberProcess,
    eventually,
    report,
    restart_broker,
    stream,
    subscribed,
)
from tests.factories import user_action

pytestmark = [pytest.mark.databus, pytest.mark.slow]

MESSAGES = 10_000


def stored(db: Database) -> tuple[int, int]:
    """(rows, distinct target visits) of the stored actions."""
    with db.engine.connect() as conn:
        rows, distinct = conn.execute(
            select(func.count(), func.count(UserAction.target_visit_id.distinct()))
        ).one()
    return int(rows), int(distinct)


def test_a_broker_restart_and_a_killed_subscriber_lose_and_double_nothing(
    bus: Bus, db: Database, tmp_path: Path
) -> None:
    bodies = [
        json.dumps(user_action(target={"visit_id": f"visit-{n}", "page_id": "/services/1"}))
        for n in range(MESSAGES)
    ]
    env = bus.env(db.url)
    subscriber = SubscriberProcess(env, tmp_path / "subscriber.log")
    subscriber.start()
    publisher = threading.Thread(target=stream, args=(bus.actions_topic, bodies, 800.0))
    replacement: SubscriberProcess | None = None
    try:
        eventually(lambda: subscribed(db, bus.subscription), 90, "the subscriber")
        publisher.start()

        eventually(lambda: stored(db)[0] >= 1_500, 60, "1,500 stored actions")
        restart_broker()
        at_restart = stored(db)[0]
        eventually(lambda: stored(db)[0] >= at_restart + 1_500, 90, "actions after the restart")

        subscriber.kill()
        at_kill = stored(db)[0]
        replacement = SubscriberProcess(env, tmp_path / "replacement.log")
        replacement.start()

        publisher.join(timeout=300)
        assert not publisher.is_alive(), "the stream was not published"
        eventually(lambda: stored(db)[0] >= MESSAGES, 180, f"{MESSAGES} stored actions")
        assert replacement.stop() == 0
    finally:
        subscriber.kill()
        if replacement is not None:
            replacement.kill()
    log = (tmp_path / "subscriber.log").read_text()
    assert "lost the databus" in log and log.count("subscribed to") >= 2, log[-3000:]
    assert at_restart < at_kill < MESSAGES, "both faults must fall in the middle of the stream"
    assert stored(db) == (MESSAGES, MESSAGES)
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DeadLetter)).scalar_one() == 0
    row = report(db, bus.subscription)
    assert row is not None and row.state == "stopped"
