"""Jobs, the model registry and engine choice through the HTTP API, in the embedded mode."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from recommender.tasks.executor import wait_for
from tests.api.conftest import load_catalog, runtime_of
from tests.factories import recommendation_request, two_communities


def finish(client: TestClient, task_id: str) -> dict[str, Any]:
    runtime = runtime_of(client)
    wait_for(runtime.db, task_id, timeout=120)
    runtime.serving.refresh()
    response = client.get(f"/tasks/{task_id}")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def served_by(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/recommendations", json=recommendation_request(**fields))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_training_registers_activates_and_serves_without_restart(api: TestClient) -> None:
    load_catalog(api, two_communities(n_services=16, n_users=80))
    response = api.post("/training")
    assert response.status_code == 200
    task_id = response.headers["X-Task-Id"]
    assert response.json()["task_id"] == task_id
    assert "ease" in response.json()["engines"]
    task = finish(api, task_id)
    assert task["state"] == "succeeded", task["error"]
    assert task["result"]["engines"]["ease"]["status"] == "active"

    listed = api.get("/models/ease").json()
    assert listed["count"] == 1 and listed["versions"][0]["status"] == "active"
    assert listed["versions"][0]["metrics"]["NDCG@10"] > 0

    answer = served_by(api, user_id=3, engine_version="EASE")
    assert answer["engine_version"] == "ease"
    # An anonymous visitor has no history for EASE to work from: popularity answers.
    assert served_by(api, engine_version="EASE")["engine_version"] == "popularity"
    # The default, `auto`, picks the best active engine for a user with history.
    assert served_by(api, user_id=3)["engine_version"] != "popularity"


def test_rollback_to_an_earlier_version(api: TestClient) -> None:
    load_catalog(api, two_communities(n_services=16, n_users=80))
    for _ in range(2):
        response = api.post("/training")
        assert finish(api, response.headers["X-Task-Id"])["state"] == "succeeded"
    versions = {v["version"]: v["status"] for v in api.get("/models/ease").json()["versions"]}
    assert versions == {1: "retired", 2: "active"}
    response = api.post("/models/ease/1/activate")
    assert response.status_code == 200 and response.json()["status"] == "active"
    engines = {e["name"]: e for e in api.get("/engines").json()["engines"]}
    assert engines["ease"]["active_version"] == 1
    assert served_by(api, user_id=3, engine_version="ease")["engine_version"] == "ease"


def test_activation_errors(client: TestClient) -> None:
    assert client.post("/models/ease/7/activate").status_code == 404
    response = client.post("/models/nonsense/1/activate")
    assert response.status_code == 400 and "unknown engine" in response.text
    assert client.post("/models/ease/0/activate").status_code == 400


def test_default_engine_changes_at_run_time(client: TestClient) -> None:
    load_catalog(client, two_communities())
    response = client.put("/engines/default", json={"engine": "random"})
    assert response.status_code == 200 and response.json()["default"] == "random"
    assert served_by(client)["engine_version"] == "random"
    response = client.put("/engines/default", json={"engine": "pre_agent"})
    assert response.status_code == 200 and response.json()["default"] == "ncf"
    # The document lists the names exactly; a name it does not list is refused, naming it.
    for wrong in ("nope", "Random"):
        response = client.put("/engines/default", json={"engine": wrong})
        assert response.status_code == 400 and "engine" in response.json()["errors"]
    assert client.put("/engines/default", json={}).status_code == 400


def test_update_loads_then_trains(client: TestClient) -> None:
    response = client.post("/update", json=two_communities(n_services=16, n_users=80))
    assert response.status_code == 204
    task = finish(client, response.headers["X-Task-Id"])
    assert task["state"] == "succeeded", task["error"]
    assert task["result"]["counts"]["users"] == 80
    assert task["result"]["engines"]["ease"]["status"] == "active"
    assert client.post("/update", json={"services": []}).status_code == 400


def test_task_listing_and_lookup(client: TestClient) -> None:
    load_catalog(client, two_communities())
    listing = client.get("/tasks").json()
    assert listing["count"] == 1 and listing["tasks"][0]["name"] == "load_dump"
    assert client.get("/tasks?state=failed").json()["count"] == 0
    assert client.get("/tasks?state=bogus").status_code == 400
    assert client.get("/tasks/no-such-task").status_code == 404


def test_a_failed_training_leaves_the_active_model_serving(client: TestClient) -> None:
    load_catalog(client, two_communities(n_services=16, n_users=80))
    first = finish(client, client.post("/training").headers["X-Task-Id"])
    assert first["state"] == "succeeded"
    # A catalogue without any usage: every engine's training fails.
    empty = two_communities(n_services=16, n_users=0)
    load_catalog(client, empty)
    failed = finish(client, client.post("/training").headers["X-Task-Id"])
    assert failed["state"] == "failed"
    statuses = {v["version"]: v["status"] for v in client.get("/models/ease").json()["versions"]}
    assert statuses == {1: "active", 2: "failed"}
    engines = {e["name"]: e for e in client.get("/engines").json()["engines"]}
    assert engines["ease"]["active_version"] == 1
