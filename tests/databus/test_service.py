"""What the API shows of the databus: the subscriber in /health and /metrics, and every
served panel published to the recommendations topic without holding the request up."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recommender.api.app import create_app
from tests.api.conftest import load_catalog, make_settings
from tests.databus.conftest import (
    Bus,
    SubscriberThread,
    eventually,
    listen,
    publish,
    subscribed,
)
from tests.factories import recommendation_request, two_communities, user_action

pytestmark = [pytest.mark.databus]


@contextmanager
def api(bus: Bus, database_url: str, tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    databus = {k.lower(): v for k, v in bus.env(database_url).items() if k != "DATABASE_URL"}
    settings = make_settings(database_url, tmp_path, **{**databus, **overrides})
    with TestClient(create_app(settings)) as client:
        yield client


def databus_part(client: TestClient) -> dict[str, Any]:
    part: dict[str, Any] = client.get("/health").json()["components"]["databus"]
    return part


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_health_and_metrics_follow_the_subscriber(
    bus: Bus, database_url: str, tmp_path: Path
) -> None:
    with api(bus, database_url, tmp_path) as client:
        assert databus_part(client)["status"] == "down"
        assert "recommender subscribe" in databus_part(client)["message"]

        subscriber = SubscriberThread(bus.settings(database_url)).start()
        try:
            eventually(lambda: subscribed(subscriber.db, bus.subscription), 30, "subscribed")
            publish(bus.actions_topic, [json.dumps(user_action())] * 3 + [b"[]"])
            eventually(lambda: databus_part(client)["dead_lettered"] == 1, 30, "a report")
            part = databus_part(client)
            assert (part["status"], part["state"]) == ("ok", "subscribed")
            assert (part["consumed"], part["stored"], part["duplicates"]) == (4, 1, 2)
            metrics = client.get("/metrics").text
            label = f'{{subscription="{bus.subscription}"}}'
            assert f"recommender_databus_stored_total{label} 1.0" in metrics
            assert f"recommender_databus_duplicates_total{label} 2.0" in metrics
            assert f"recommender_databus_dead_lettered_total{label} 1.0" in metrics
            assert "recommender_databus_lag_seconds{" in metrics
        finally:
            subscriber.stop()
        part = databus_part(client)
        assert (part["status"], part["state"]) == ("down", "stopped")


def test_every_served_panel_is_published_with_its_recommendation_id(
    bus: Bus, database_url: str, tmp_path: Path
) -> None:
    topic, received = listen(bus.recommendations_topic)
    try:
        with api(
            bus, database_url, tmp_path, databus_recommendations_topic=bus.recommendations_topic
        ) as client:
            load_catalog(client, two_communities())
            answers = [
                client.post("/recommendations", json=recommendation_request(user_id=u)).json()
                for u in (1, 2, 3)
            ]
            eventually(lambda: len(received.frames) == 3, 30, "three published panels")
            assert databus_part(client)["publisher"]["connected"] is True
    finally:
        topic.disconnect()
    messages = [json.loads(body) for _, body in received.frames]
    assert [m["response"]["recommendation_id"] for m in messages] == [
        a["recommendation_id"] for a in answers
    ]
    assert [m["response"]["recommendations"] for m in messages] == [
        a["recommendations"] for a in answers
    ]
    assert [m["context"]["user_id"] for m in messages] == [1, 2, 3]
    assert messages[0]["recommender_system"] == "marketplace-recommender"
    assert all(headers["content-type"] == "application/json" for headers, _ in received.frames)


def test_requests_are_answered_while_the_broker_is_away(bus: Bus, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'recommender.db'}"
    with api(
        bus,
        url,
        tmp_path,
        databus_port=closed_port(),
        databus_recommendations_topic=bus.recommendations_topic,
        databus_publish_queue=2,
    ) as client:
        load_catalog(client, two_communities())
        for user_id in range(1, 6):
            answer = client.post("/recommendations", json=recommendation_request(user_id=user_id))
            assert answer.status_code == 200 and answer.json()["recommendation_id"]
        publisher = eventually(
            lambda: (part := databus_part(client)["publisher"]).get("problem") and part,
            30,
            "the publisher's attempt",
        )
        assert publisher["connected"] is False and publisher["queued"] == 2
        assert "ConnectFailedException" in publisher["problem"]
        metrics = client.get("/metrics").text
    dropped = next(
        line
        for line in metrics.splitlines()
        if line.startswith("recommender_databus_publish_dropped_total")
    )
    assert float(dropped.split()[-1]) >= 3
