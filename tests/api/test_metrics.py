"""Prometheus metrics: latency per route, served panels, actions, attribution, jobs, models."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import load_catalog
from tests.factories import recommendation_request, two_communities, user_action


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(client: TestClient, name: str, **labels: str) -> float:
    return samples(client).get((name, tuple(sorted(labels.items()))), 0.0)


def test_served_panels_actions_and_attribution(client: TestClient) -> None:
    load_catalog(client, two_communities())
    before = {
        "served": value(
            client, "recommender_recommendations_total", engine="popularity", panel="v2"
        ),
        "clicks": value(client, "recommender_attributed_clicks_total", engine="popularity"),
        "orders": value(client, "recommender_attributed_orders_total", engine="popularity"),
    }
    shown = client.post(
        "/recommendations", json=recommendation_request(panel_id="v2", visit_id="page-1")
    ).json()
    service = shown["recommendations"][0]
    root = {"type": "recommendation_panel", "panel_id": "v2", "service_id": service}
    click = user_action(
        source={"visit_id": "page-1", "page_id": "/services", "root": root},
        target={"visit_id": "page-2", "page_id": f"/services/{service}"},
    )
    order = user_action(
        source={"visit_id": "page-2", "page_id": f"/services/{service}/summary", "root": root},
        target={"visit_id": "page-3", "page_id": "/projects/1"},
        action={"type": "button", "text": "Order", "order": True},
    )
    assert client.post("/user_actions", json=click).status_code == 204
    assert client.post("/user_actions", json=order).status_code == 204
    after = {
        "served": value(
            client, "recommender_recommendations_total", engine="popularity", panel="v2"
        ),
        "clicks": value(client, "recommender_attributed_clicks_total", engine="popularity"),
        "orders": value(client, "recommender_attributed_orders_total", engine="popularity"),
    }
    assert {k: after[k] - before[k] for k in after} == {"served": 1, "clicks": 1, "orders": 1}


def test_latency_jobs_and_model_versions(client: TestClient) -> None:
    load_catalog(client, two_communities())
    client.post("/recommendations", json=recommendation_request())
    client.get("/this/path/does/not/exist")
    found = samples(client)
    routes = {
        dict(labels).get("route")
        for (name, labels) in found
        if name.startswith("recommender_http_request_duration_seconds")
    }
    assert "/recommendations" in routes and "unmatched" in routes
    assert "/this/path/does/not/exist" not in routes
    assert found[("recommender_jobs_total", (("job", "load_dump"), ("state", "succeeded")))] == 1
