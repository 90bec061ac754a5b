"""A databus message is read exactly as `POST /user_actions` reads its body."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recommender.api.app import create_app
from recommender.contract.user_actions import UserActionIn
from recommender.databus.connection import Backoff
from recommender.databus.messages import Rejection, digest, incoming, read_action
from tests.api.conftest import make_settings
from tests.factories import user_action


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("api")
    settings = make_settings(f"sqlite:///{folder / 'api.db'}", folder)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def without(path: str) -> dict[str, Any]:
    body = user_action()
    *parents, last = path.split(".")
    node = body
    for name in parents:
        node = node[name]
    del node[last]
    return body


BODIES: list[bytes] = [
    json.dumps(user_action()).encode(),
    json.dumps(user_action(unexpected="ignored", user_id=7, client_id="search_service")).encode(),
    json.dumps(without("target.page_id")).encode(),
    json.dumps(without("unique_id")).encode(),
    json.dumps(user_action(user_id="12")).encode(),
    json.dumps(user_action(timestamp=1764237605)).encode(),
    json.dumps(user_action(client_id="someone")).encode(),
    json.dumps(user_action(action={"type": "button", "order": "yes"})).encode(),
    json.dumps([user_action()]).encode(),
    b"{not json",
    b"",
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_a_message_is_refused_exactly_when_the_endpoint_refuses_it(
    client: TestClient, body: bytes
) -> None:
    answer = client.post(
        "/user_actions", content=body, headers={"content-type": "application/json"}
    )
    read = read_action(body, max_bytes=1_000_000)
    if answer.status_code == 204:
        assert isinstance(read, UserActionIn)
    else:
        assert answer.status_code == 400
        assert isinstance(read, Rejection)
        assert read.errors == answer.json()["errors"]


def test_a_body_over_the_size_limit_is_refused_naming_the_limit() -> None:
    read = read_action(json.dumps(user_action(action={"type": "b", "text": "x" * 500})), 100)
    assert isinstance(read, Rejection) and "limit of 100 bytes" in read.errors["body"]


def test_the_identity_is_the_body_and_the_sending_time_comes_from_the_header() -> None:
    body = json.dumps(user_action()).encode()
    first = incoming("/topic/a", {"message-id": "1", "timestamp": "1764237605123"}, body)
    again = incoming("/topic/a", {"message-id": "T_sub@@session-2@@1"}, body)
    assert first.digest == again.digest == digest(body) and len(first.digest) == 64
    assert first.sent_at == pytest.approx(1764237605.123)
    assert again.sent_at is None
    assert incoming("/topic/a", {}, body + b" ").digest != first.digest


def test_waits_between_attempts_grow_to_the_cap_and_start_over_after_success() -> None:
    backoff = Backoff(max_s=8.0, initial_s=0.5, rng=random.Random(1))
    waits = [backoff.next_wait() for _ in range(8)]
    ceilings = [0.5, 1, 2, 4, 8, 8, 8, 8]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    backoff.reset()
    assert backoff.next_wait() <= 0.5
