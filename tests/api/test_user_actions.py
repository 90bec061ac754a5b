from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from recommender.store.schema import UserAction
from tests.api.conftest import load_catalog, runtime_of
from tests.factories import recommendation_request, two_communities, user_action


def stored_actions(client: TestClient) -> list[Any]:
    with runtime_of(client).db.engine.connect() as conn:
        return list(conn.execute(select(UserAction).order_by(UserAction.id)).all())


def test_old_root_form_is_stored_and_linked_by_visit_and_panel(api: TestClient) -> None:
    load_catalog(api, two_communities())
    shown = api.post("/recommendations", json=recommendation_request(visit_id="page-7")).json()
    clicked = shown["recommendations"][0]
    action = user_action(
        user_id=3,
        source={
            "visit_id": "page-7",
            "page_id": "/services",
            "root": {"type": "recommendation_panel", "panel_id": "v1", "service_id": clicked},
        },
        target={"visit_id": "page-8", "page_id": f"/services/{clicked}"},
    )
    assert api.post("/user_actions", json=action).status_code == 204
    [row] = stored_actions(api)
    assert row.recommendation_id == shown["recommendation_id"]
    assert row.service_id == clicked and row.root_service_id == clicked
    assert row.user_id == 3 and row.root_type == "recommendation_panel"
    assert row.source_visit_id == "page-7" and row.target_visit_id == "page-8"


def test_new_root_form_and_explicit_recommendation_id(api: TestClient) -> None:
    load_catalog(api, two_communities())
    shown = api.post("/recommendations", json=recommendation_request(visit_id=None)).json()
    action = user_action(
        recommendation_id=shown["recommendation_id"],
        source={
            "visit_id": None,
            "page_id": "/services",
            "root": {
                "type": "recommendation_panel",
                "panel_id": "v1",
                "resource_type": "service",
                "resource_id": 4,
            },
        },
        target={"visit_id": "x", "page_id": "/services/4"},
    )
    assert api.post("/user_actions", json=action).status_code == 204
    [row] = stored_actions(api)
    assert row.recommendation_id == shown["recommendation_id"]
    assert row.root_resource_type == "service" and row.root_resource_id == "4"
    assert row.service_id == 4


def test_non_root_actions_are_stored_too(client: TestClient) -> None:
    action = user_action(
        source={"visit_id": "a", "page_id": "/services/5"},
        target={"visit_id": "b", "page_id": "/services/5/details"},
    )
    assert client.post("/user_actions", json=action).status_code == 204
    [row] = stored_actions(client)
    assert row.root_type is None and row.service_id == 5 and row.recommendation_id is None


def test_aai_uid_resolves_to_the_user(client: TestClient) -> None:
    load_catalog(client, two_communities())
    action = user_action(aai_uid="user5@aai.example.org")
    assert client.post("/user_actions", json=action).status_code == 204
    assert stored_actions(client)[0].user_id == 5


def test_unknown_recommendation_id_keeps_the_action(client: TestClient) -> None:
    assert (
        client.post("/user_actions", json=user_action(recommendation_id=424242)).status_code == 204
    )
    [row] = stored_actions(client)
    assert row.recommendation_id is None


def test_orders_are_flagged(client: TestClient) -> None:
    order = user_action(
        user_id=1,
        source={"visit_id": "a", "page_id": "/services/2/summary"},
        target={"visit_id": "b", "page_id": "/services/2/ordered"},
        action={"type": "button", "text": "Order", "order": True},
    )
    assert client.post("/user_actions", json=order).status_code == 204
    [row] = stored_actions(client)
    assert row.is_order and row.service_id == 2
