"""The hot routes answer as the full application does: the same answers, headers, limits
and errors, whichever way a request is served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from recommender.api.app import create_app
from recommender.store.schema import Recommendation
from tests.api.conftest import load_catalog, make_settings, runtime_of
from tests.factories import recommendation_request, two_communities, user_action

ORIGIN = "https://marketplace.example.org"


@pytest.fixture
def served(tmp_path: Path) -> Any:
    settings = make_settings(f"sqlite:///{tmp_path / 'hot.db'}", tmp_path, cors_origins=ORIGIN)
    with TestClient(create_app(settings)) as client:
        load_catalog(client, two_communities())
        yield client


def _without_id(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key != "recommendation_id"}


def test_the_hot_path_and_the_framework_give_the_same_answer(served: TestClient) -> None:
    body = recommendation_request(user_id=1, search_data={"categories": [1]})
    fast = served.post("/recommendations", json=body)
    # A JSON body under another JSON media type: the hot path leaves it to the framework.
    framework = served.post(
        "/recommendations",
        content=fast.request.content,
        headers={"content-type": "application/vnd.portal+json"},
    )
    assert fast.status_code == framework.status_code == 200
    assert _without_id(framework.json()) == _without_id(fast.json())
    assert framework.json()["recommendation_id"] > fast.json()["recommendation_id"]


def test_hot_answers_carry_the_request_id_and_cors_headers(served: TestClient) -> None:
    answer = served.post(
        "/recommendations",
        json=recommendation_request(),
        headers={"Origin": ORIGIN, "X-Request-Id": "portal-req-1"},
    )
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == "portal-req-1"
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    action = served.post("/user_actions", json=user_action(), headers={"Origin": ORIGIN})
    assert action.status_code == 204
    assert action.headers["access-control-allow-origin"] == ORIGIN


def _impressions(client: TestClient) -> int:
    with runtime_of(client).db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Recommendation)).scalar_one())


def test_a_bad_body_is_refused_naming_the_field_and_stores_nothing(served: TestClient) -> None:
    before = _impressions(served)
    refused = served.post("/recommendations", json=recommendation_request(panel_id="v9"))
    assert refused.status_code == 400
    assert "panel_id" in refused.json()["errors"]
    assert _impressions(served) == before


def test_a_database_failure_on_the_hot_path_is_the_usual_503(
    served: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = runtime_of(served)

    def broken(_impression: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("database is away"))

    monkeypatch.setattr(runtime, "store_impression_async", broken)
    answer = served.post("/recommendations", json=recommendation_request())
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    assert answer.json()["message"] == "the database is unavailable; retry shortly"
