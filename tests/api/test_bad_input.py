"""Every endpoint answers bad input with a 4xx naming the problem, and stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from recommender.store.schema import CatalogDump, Recommendation, Service, UserAction
from tests.api.conftest import load_catalog, runtime_of
from tests.factories import recommendation_request, two_communities, user_action

BODY_ENDPOINTS = ["/recommendations", "/user_actions", "/database_dumps"]
HUGE = 2**63
JSON = {"content-type": "application/json"}


def nothing_written(client: TestClient) -> None:
    with runtime_of(client).db.engine.connect() as conn:
        for column in (Recommendation.id, UserAction.id, CatalogDump.id):
            assert conn.execute(select(func.count(column))).scalar_one() == 0


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [b"{", b"", b"null", b"[]", b"\xff\xfe\x00garbage", b'{"unique_id": "x",}', b"12"],
    ids=["truncated", "empty", "null", "array", "not-utf8", "trailing-comma", "number"],
)
def test_malformed_bodies_are_400(client: TestClient, path: str, body: bytes) -> None:
    response = client.post(path, content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json()["message"]
    nothing_written(client)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"user_id": "12"}, "user_id"),
        ({"user_id": -1}, "user_id"),
        ({"user_id": HUGE}, "user_id"),
        ({"user_id": 1.5}, "user_id"),
        ({"user_id": True}, "user_id"),
        ({"panel_id": "v3"}, "panel_id"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"page_id": "x" * 5000}, "page_id"),
        ({"unique_id": "u" * 300}, "unique_id"),
        ({"candidates": [1, "two"]}, "candidates.1"),
        ({"candidates": [-5]}, "candidates.0"),
        ({"search_data": {"q": "q" * 2000}}, "search_data.q"),
        ({"search_data": {"categories": "biology"}}, "search_data.categories"),
        ({"search_data": []}, "search_data"),
        ({"client_id": "portal"}, "client_id"),
    ],
)
def test_recommendation_field_errors_name_the_field(
    client: TestClient, fields: dict[str, Any], field: str
) -> None:
    response = client.post("/recommendations", json=recommendation_request(**fields))
    assert response.status_code == 400, response.text
    assert field in response.json()["errors"]
    nothing_written(client)


@pytest.mark.parametrize("missing", ["unique_id", "timestamp", "page_id"])
def test_recommendation_missing_fields(client: TestClient, missing: str) -> None:
    body = recommendation_request()
    del body[missing]
    response = client.post("/recommendations", json=body)
    assert response.status_code == 400
    assert response.json()["errors"][missing] == "Field required"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"user_id": -3}, "user_id"),
        ({"recommendation_id": HUGE}, "recommendation_id"),
        ({"action": {"type": "x", "text": "y", "order": "yes"}}, "action.order"),
        ({"target": {"page_id": "/services"}}, "target.visit_id"),
        ({"source": {"visit_id": "a"}}, "source.page_id"),
        (
            {"source": {"page_id": "/", "root": {"type": "x", "service_id": -1}}},
            "source.root.service_id",
        ),
        ({"action": {"type": "t" * 300, "order": False}}, "action.type"),
        ({"timestamp": 5}, "timestamp"),
    ],
)
def test_user_action_field_errors_name_the_field(
    client: TestClient, fields: dict[str, Any], field: str
) -> None:
    response = client.post("/user_actions", json=user_action(**fields))
    assert response.status_code == 400, response.text
    assert field in response.json()["errors"]
    nothing_written(client)


@pytest.mark.parametrize("missing", ["unique_id", "timestamp", "source", "target", "action"])
def test_user_action_missing_fields(client: TestClient, missing: str) -> None:
    body = user_action()
    del body[missing]
    response = client.post("/user_actions", json=body)
    assert response.status_code == 400
    assert missing in response.json()["errors"]


def test_extra_fields_are_ignored(client: TestClient) -> None:
    body = recommendation_request(something_new={"nested": True})
    assert client.post("/recommendations", json=body).status_code == 200


@pytest.mark.parametrize("path", ["/recommendations", "/user_actions"])
def test_a_100_mb_body_is_refused_without_reading_it(client: TestClient, path: str) -> None:
    response = client.post(path, content=b" " * 100_000_000, headers=JSON)
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["message"]
    nothing_written(client)


def test_a_streamed_body_over_the_limit_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(200):
            yield b" " * 10_000

    response = client.post("/user_actions", content=chunks(), headers=JSON)
    assert response.status_code == 413
    nothing_written(client)


def test_a_100_mb_dump_of_garbage_is_a_400_and_changes_nothing(client: TestClient) -> None:
    load_catalog(client, two_communities())
    response = client.post("/database_dumps", content=b"[" * 100_000_000, headers=JSON)
    assert response.status_code == 400
    with runtime_of(client).db.engine.connect() as conn:
        assert conn.execute(select(func.count(Service.id))).scalar_one() == 12
        assert conn.execute(select(func.count(CatalogDump.id))).scalar_one() == 1


def test_unknown_paths_and_methods(client: TestClient) -> None:
    assert client.get("/nothing-here").status_code == 404
    assert client.get("/recommendations").status_code == 405
