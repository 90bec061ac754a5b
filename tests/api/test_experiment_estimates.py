"""Off-policy estimates over HTTP: on a logged experiment, and a 400 naming what is wrong."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import load_catalog
from tests.api.test_experiments import panel, start
from tests.factories import two_communities, user_action


def click(client: TestClient, browser: str, visit: str, service: int) -> None:
    body = user_action(
        unique_id=browser,
        source={
            "visit_id": visit,
            "page_id": "/services",
            "root": {"type": "recommendation_panel", "panel_id": "v1", "service_id": service},
        },
        target={"visit_id": f"{visit}-a", "page_id": f"/services/{service}"},
    )
    assert client.post("/user_actions", json=body).status_code == 204


def logged_experiment(client: TestClient) -> dict[str, Any]:
    """popularity against random; every visitor clicks the panel's lowest service id."""
    load_catalog(client, two_communities())
    experiment = start(client)
    for i in range(60):
        browser, visit = f"b-{i}", f"visit-{i}"
        answer = panel(
            client, unique_id=browser, visit_id=visit, candidates=[1, 2, 3, 4, 5, 6, 7, 8]
        )
        if i % 2 == 0:
            click(client, browser, visit, min(answer["recommendations"]))
    return experiment


def estimate(client: TestClient, experiment: int, **params: str) -> Any:
    return client.get(f"/experiments/{experiment}/estimates", params=params)


def test_an_arms_engine_is_estimated_at_arm_level_as_its_report_says(api: TestClient) -> None:
    experiment = logged_experiment(api)["id"]
    report = api.get(f"/experiments/{experiment}").json()
    control = next(a for a in report["arms"] if a["name"] == "control")
    response = estimate(api, experiment, engine="Popularity")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["engine"] == "popularity" and body["method"] == "arm"
    assert body["snips"]["value"] == pytest.approx(control["ctr"]["value"])
    assert body["impressions"] == 60 and body["used"] == control["impressions"]
    assert body["ips"]["low"] <= body["ips"]["value"] <= body["ips"]["high"]


def test_the_random_arm_is_replayed_with_another_engine(api: TestClient) -> None:
    experiment = logged_experiment(api)["id"]
    body = estimate(api, experiment, engine="popularity", method="slot").json()
    assert body["method"] == "slot" and body["estimand"] == "clicked services per panel"
    assert body["impressions"] == 60 and body["skipped"] == 0
    assert 0 < body["used"] < 60 and "slot" in body["assumptions"]
    item = estimate(api, experiment, engine="popularity", method="item").json()
    assert item["used"] >= body["used"]


def test_what_cannot_be_estimated_is_a_400_naming_the_field(api: TestClient) -> None:
    experiment = logged_experiment(api)["id"]
    response = estimate(api, experiment, engine="gpt")
    assert response.status_code == 400 and "engine" in response.json()["errors"]
    # ncf is a known engine, but no model of it was trained here.
    response = estimate(api, experiment, engine="ncf", method="slot")
    assert response.status_code == 400 and "is loaded" in response.json()["errors"]["engine"]
    response = estimate(api, experiment, engine="ease", method="arm")
    assert response.status_code == 400 and "no arm" in response.json()["errors"]["engine"]
    response = estimate(api, experiment, engine="popularity", method="bandit")
    assert response.status_code == 400 and "method" in str(response.json()["errors"])
    assert estimate(api, 999, engine="popularity").status_code == 404


def test_replaying_needs_a_random_arm(client: TestClient) -> None:
    load_catalog(client, two_communities())
    arms = [
        {"name": "control", "engine": "popularity", "weight": 1},
        {"name": "other", "engine": "itemknn", "weight": 1},
    ]
    experiment = start(client, name="no-random", arms=arms)["id"]
    response = estimate(client, experiment, engine="popularity", method="slot")
    assert response.status_code == 400
    assert "no random arm" in response.json()["errors"]["method"]
