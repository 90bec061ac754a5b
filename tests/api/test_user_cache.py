"""With `USER_CACHE_SIZE` the API answers and records exactly as with every user in memory,
and a new dump is seen at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from recommender.api.app import create_app
from recommender.api.routes import recommendations
from recommender.catalog.user_cache import CachedUsers
from recommender.store.schema import UserAction
from tests.api.conftest import load_catalog, make_settings, runtime_of
from tests.factories import (
    COMPUTE,
    PHYSICS,
    recommendation_request,
    two_communities,
    user,
    user_action,
)

VISITORS: list[dict[str, Any]] = [
    {"user_id": 3},
    {"user_id": 4},
    {"aai_uid": "user5@aai.example.org"},
    {"aai_uid": "user6@aai.example.org"},
    {"user_id": 999},
    {"aai_uid": "nobody@aai.example.org"},
    {},
    {"user_id": 3},  # again: now from the cache
    {"aai_uid": "user5@aai.example.org"},
]


def app(database_url: str, tmp_path: Path, cache_size: int) -> TestClient:
    return TestClient(create_app(make_settings(database_url, tmp_path, user_cache_size=cache_size)))


def panels(client: TestClient) -> list[list[int]]:
    answers = []
    for visitor in VISITORS:
        response = client.post("/recommendations", json=recommendation_request(**visitor))
        assert response.status_code == 200, response.text
        answers.append(response.json()["recommendations"])
    return answers


def recorded_users(client: TestClient) -> list[int | None]:
    for number, aai_uid in enumerate(["user7@aai.example.org", "nobody@aai.example.org"]):
        action = user_action(
            aai_uid=aai_uid, unique_id=f"5a1b8f3e-0000-4000-8000-00000000010{number}"
        )
        assert client.post("/user_actions", json=action).status_code == 204
    with runtime_of(client).db.session() as session:
        rows = session.scalars(select(UserAction).order_by(UserAction.id.desc()).limit(2))
        return [row.user_id for row in reversed(list(rows))]


def test_both_modes_answer_and_record_alike(database_url: str, tmp_path: Path) -> None:
    with app(database_url, tmp_path, 0) as whole:
        load_catalog(whole, two_communities())
        expected = panels(whole), recorded_users(whole)
        assert whole.get("/health").json()["components"]["catalog"]["users"] == 30
    with app(database_url, tmp_path, 2) as bounded:
        assert (panels(bounded), recorded_users(bounded)) == expected
        assert expected[1] == [7, None]
        users = runtime_of(bounded).serving.current.catalog.users
        assert isinstance(users, CachedUsers) and max(users.held()) <= 2
        assert bounded.get("/health").json()["components"]["catalog"]["users"] == 30


def test_a_new_dump_is_seen_at_once(database_url: str, tmp_path: Path) -> None:
    with app(database_url, tmp_path, 2) as client:
        load_catalog(client, two_communities())
        before = client.post("/recommendations", json=recommendation_request(user_id=1)).json()
        # User 1 turns physicist and has used the two most popular physics services.
        changed = two_communities()
        changed["users"][0] = user(
            1, scientific_domains=[PHYSICS], categories=[COMPUTE], accessed_services=[7, 8]
        )
        load_catalog(client, changed)
        after = client.post("/recommendations", json=recommendation_request(user_id=1)).json()
    assert before["recommendations"] != after["recommendations"]
    assert not {7, 8} & set(after["recommendations"])
    assert set(after["recommendations"]) <= set(range(7, 13))


def test_only_a_miss_leaves_the_event_loop(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[object] = []
    hop = asyncio.to_thread

    async def counted(function: Any, *args: Any) -> Any:
        hops.append(args[1])
        return await hop(function, *args)

    monkeypatch.setattr(recommendations.asyncio, "to_thread", counted)
    # A bound of at least the store's 30 users holds them all, as 0 does.
    for cache_size, expected in [(0, 0), (2, 2), (30, 0)]:
        hops.clear()
        with app(database_url, tmp_path, cache_size) as client:
            load_catalog(client, two_communities())
            for visitor in [{"user_id": 3}, {"user_id": 3}, {}, {"aai_uid": "nobody"}] * 2:
                response = client.post("/recommendations", json=recommendation_request(**visitor))
                assert response.status_code == 200
        assert len(hops) == expected  # the first user 3 and the first unknown identity
