"""An application per test, on a fresh database, driven through its HTTP interface."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recommender.api.app import create_app
from recommender.config import Settings
from recommender.runtime import Runtime
from recommender.tasks.executor import wait_for

SMALL_ENGINES = Path(__file__).resolve().parent.parent / "engine_params.toml"


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        # Tests refresh explicitly; a poll in the background would only add timing noise.
        "refresh_interval_s": 3600,
        "engine_params_file": str(SMALL_ENGINES),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The real app on SQLite and on PostgreSQL."""
    with TestClient(create_app(make_settings(database_url, tmp_path))) as client:
        yield client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """The real app on SQLite only, for the many input checks that do not depend on storage."""
    url = f"sqlite:///{tmp_path / 'api.db'}"
    with TestClient(create_app(make_settings(url, tmp_path))) as test_client:
        yield test_client


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime
    return runtime


def load_catalog(client: TestClient, doc: dict[str, Any]) -> None:
    """Post a dump and wait for its background load, as a portal would poll."""
    response = client.post("/database_dumps", json=doc)
    assert response.status_code == 204, response.text
    runtime = runtime_of(client)
    task = wait_for(runtime.db, response.headers["X-Task-Id"], timeout=60)
    assert task.state == "succeeded", task.error
    runtime.serving.refresh()
