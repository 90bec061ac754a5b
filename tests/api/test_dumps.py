from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from recommender.store.schema import Service, UserAction
from recommender.tasks.executor import wait_for
from tests.api.conftest import load_catalog, runtime_of
from tests.factories import dump, service, two_communities, user, user_action


def test_posted_dump_is_loaded_in_the_background_and_served(api: TestClient) -> None:
    response = api.post("/database_dumps", json=two_communities())
    assert response.status_code == 204
    assert response.content == b""
    runtime = runtime_of(api)
    assert wait_for(runtime.db, response.headers["X-Task-Id"]).state == "succeeded"
    runtime.serving.refresh()
    health = api.get("/health").json()
    assert health["components"]["catalog"]["services"] == 12
    assert api.post(
        "/recommendations",
        json={"unique_id": "u", "timestamp": "2026-01-01T00:00:00Z", "page_id": "/services"},
    ).json()["recommendations"]


def test_invalid_dump_is_rejected_with_entity_id_and_field(api: TestClient) -> None:
    load_catalog(api, two_communities())
    assert api.post("/user_actions", json=user_action(user_id=1)).status_code == 204
    broken = dump([service(1), service(2, categories=[999])], [user(1, accessed_services=[3])])
    response = api.post("/database_dumps", json=broken)
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {
        "services[2].categories": "categories id 999 is not in the dump",
        "users[1].accessed_services": "services id 3 is not in the dump",
    }
    assert body["problems"][0] == {
        "entity": "services",
        "index": None,
        "id": 2,
        "field": "categories",
        "message": "categories id 999 is not in the dump",
    }
    with runtime_of(api).db.engine.connect() as conn:
        assert conn.execute(select(func.count(Service.id))).scalar_one() == 12
        assert conn.execute(select(func.count(UserAction.id))).scalar_one() == 1


def test_dump_that_is_not_json(client: TestClient) -> None:
    response = client.post(
        "/database_dumps", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid UTF-8 JSON" in response.json()["message"]


def test_dump_missing_arrays(client: TestClient) -> None:
    response = client.post("/database_dumps", json={"services": []})
    assert response.status_code == 400
    assert "users: required array is missing" in response.json()["message"]
