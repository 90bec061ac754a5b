"""Sessions: what a visitor did a moment ago shapes their next panel, with no retraining."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recommender.api.app import create_app
from recommender.catalog.loader import replace_catalog
from recommender.store import migrate
from recommender.store.database import Database
from recommender.tasks.executor import wait_for
from tests.api.conftest import load_catalog, make_settings, runtime_of
from tests.factories import recommendation_request, two_communities, user_action
from tests.integration.conftest import redis_url

# two_communities(16, 80): biology services 1-8, physics services 9-16.
PHYSICS = range(9, 17)


def panel(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/recommendations", json=recommendation_request(**fields))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def opens(client: TestClient, browser: str, service: int, at: str, **fields: Any) -> None:
    action = user_action(
        unique_id=browser,
        timestamp=at,
        source={"visit_id": f"{browser}-list", "page_id": "/services"},
        target={"visit_id": f"{browser}-{service}", "page_id": f"/services/{service}"},
        **fields,
    )
    assert client.post("/user_actions", json=action).status_code == 204


def trained(client: TestClient, engine: str = "itemknn") -> TestClient:
    load_catalog(client, two_communities(n_services=16, n_users=80))
    runtime = runtime_of(client)
    task = wait_for(runtime.db, runtime.executor.submit("train", engine=engine), 120)
    assert task.state == "succeeded", task.error
    runtime.serving.refresh()
    return client


def test_an_anonymous_visitor_s_session_personalises_the_next_panel(api: TestClient) -> None:
    client = trained(api)
    before = panel(client, unique_id="visitor", timestamp="2026-12-01T10:00:00Z")
    assert before["engine_version"] == "popularity"
    opens(client, "visitor", 10, "2026-12-01T10:01:00Z")
    opens(client, "visitor", 11, "2026-12-01T10:02:00Z")
    after = panel(client, unique_id="visitor", timestamp="2026-12-01T10:03:00Z")
    assert after["engine_version"] == "itemknn"
    assert all(s in PHYSICS for s in after["recommendations"]), after
    assert not {10, 11} & set(after["recommendations"])
    # Another browser has no session; and this one's is over after the gap (30 minutes).
    other = panel(client, unique_id="other", timestamp="2026-12-01T10:03:00Z")
    assert other["recommendations"] == before["recommendations"]
    over = panel(client, unique_id="visitor", timestamp="2026-12-01T11:00:00Z")
    assert over["engine_version"] == "popularity"
    assert over["recommendations"] == before["recommendations"]


def test_a_visitor_asking_after_each_step_gets_the_panel_of_one_asking_at_the_end(
    api: TestClient,
) -> None:
    """EASE keeps each visitor's scores and adds what their history changed: the panels must
    be those of a browser whose whole history is scored at once, also when the browser's
    user logs in, changes and logs out between steps (a shared terminal)."""
    client = trained(api, engine="ease")
    steps = [1, 2, 3, 10, 11, 12, 13, 14]
    users = [None, None, 1, 1, 2, None, 1, None]
    for minute, (service, user) in enumerate(zip(steps, users, strict=True), start=1):
        at = f"2026-12-01T10:{minute:02d}:00Z"
        opens(client, "step-by-step", service, at, user_id=user)
        opens(client, "at-the-end", service, at, user_id=user)
        along = panel(client, unique_id="step-by-step", user_id=user, timestamp=at)
        assert along["engine_version"] == "ease"
    at_end = panel(client, unique_id="at-the-end", timestamp="2026-12-01T10:09:00Z")
    along = panel(client, unique_id="step-by-step", timestamp="2026-12-01T10:09:00Z")
    assert along["recommendations"] == at_end["recommendations"]
    assert not set(steps) & set(along["recommendations"])
    # Physics now outweighs biology in the session: its last unopened services lead.
    assert along["recommendations"][0] in PHYSICS, along
    for user in (1, 2):
        at_end = panel(
            client, unique_id="at-the-end", user_id=user, timestamp="2026-12-01T10:09:00Z"
        )
        along = panel(
            client, unique_id="step-by-step", user_id=user, timestamp="2026-12-01T10:09:00Z"
        )
        assert along["recommendations"] == at_end["recommendations"]


def test_a_logged_in_user_s_session_joins_their_history(client: TestClient) -> None:
    trained(client)
    # User 2 is a physicist who used only service 9.
    opens(client, "laptop", 12, "2026-12-01T10:01:00Z", user_id=2)
    answer = panel(client, unique_id="phone", user_id=2, timestamp="2026-12-01T10:02:00Z")
    assert 12 not in answer["recommendations"] and 9 not in answer["recommendations"]


def test_with_sessions_off_the_next_panel_ignores_the_session(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'off.db'}", tmp_path, sessions=False)
    with TestClient(create_app(settings)) as client:
        trained(client)
        before = panel(client, unique_id="visitor", timestamp="2026-12-01T10:00:00Z")
        opens(client, "visitor", 10, "2026-12-01T10:01:00Z")
        after = panel(client, unique_id="visitor", timestamp="2026-12-01T10:02:00Z")
        assert after["engine_version"] == "popularity"
        assert after["recommendations"] == before["recommendations"]


def test_opened_services_may_come_back_when_the_operator_allows_it(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'again.db'}", tmp_path, session_exclude_opened=False
    )
    with TestClient(create_app(settings)) as client:
        load_catalog(client, two_communities(n_services=16, n_users=80))
        first = panel(client, unique_id="visitor", timestamp="2026-12-01T10:00:00Z")
        top = first["recommendations"][0]
        opens(client, "visitor", top, "2026-12-01T10:01:00Z")
        again = panel(client, unique_id="visitor", timestamp="2026-12-01T10:02:00Z")
        assert top in again["recommendations"]
        # An order is never shown again, whatever the setting.
        opens(
            client,
            "visitor",
            top,
            "2026-12-01T10:03:00Z",
            user_id=1,
            action={"type": "button", "text": "Order", "order": True},
        )
        ordered = panel(client, unique_id="visitor", user_id=1, timestamp="2026-12-01T10:04:00Z")
        assert top not in ordered["recommendations"]


@pytest.mark.redis
def test_sessions_are_shared_between_server_processes_through_redis(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    db = Database(url, pool_size=1)
    migrate.upgrade(db.engine)
    with db.write() as conn:
        replace_catalog(conn, two_communities(n_services=16, n_users=80))
    db.dispose()
    settings = make_settings(url, tmp_path, redis_url=redis_url())
    browser = f"visitor-{uuid.uuid4().hex}"
    with (
        TestClient(create_app(settings)) as first,
        TestClient(create_app(settings)) as second,
    ):
        shown = panel(second, unique_id=browser, timestamp="2026-12-01T10:00:00Z")
        top = shown["recommendations"][0]
        opens(first, browser, top, "2026-12-01T10:01:00Z")
        again = panel(second, unique_id=browser, timestamp="2026-12-01T10:02:00Z")
        assert top not in again["recommendations"]
