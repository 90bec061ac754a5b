from __future__ import annotations

from fastapi.testclient import TestClient

from recommender.store.database import Database
from tests.api.conftest import load_catalog
from tests.factories import two_communities


def test_empty_service_is_unavailable_and_says_why(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["components"]["database"]["status"] == "ok"
    assert body["components"]["catalog"]["status"] == "empty"


def test_healthy_once_a_catalogue_is_loaded(api: TestClient) -> None:
    load_catalog(api, two_communities())
    response = api.get("/health")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["components"]["catalog"]["users"] == 30
    assert body["components"]["engines"]["default"] == "auto"
    assert "popularity" in body["components"]["engines"]["loaded"]


def test_database_down_is_503(client: TestClient) -> None:
    load_catalog(client, two_communities())
    runtime = client.app.state.runtime
    working = runtime.db
    runtime.db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_size=1)
    try:
        response = client.get("/health")
    finally:
        runtime.db.dispose()
        runtime.db = working
    assert response.status_code == 503
    assert response.json()["components"]["database"]["status"] == "down"
