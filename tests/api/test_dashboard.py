"""The dashboard over HTTP: who may see it, what its forms refuse, and what its charts hold."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from recommender.api.app import create_app
from recommender.api.dashboard import auth
from recommender.api.dashboard.charts import training_curves
from recommender.api.security import Tokens
from tests.api.conftest import load_catalog, make_settings
from tests.factories import two_communities

ADMIN = "admin-dashboard-token-0123456789"
CLIENT = "client-dashboard-token-0123456789"
PAGES = ["/dashboard", "/dashboard/engines", "/dashboard/jobs", "/dashboard/recommendations"]


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'dash.db'}", tmp_path, api_tokens=f"admin:{ADMIN},client:{CLIENT}"
    )
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def log_in(client: TestClient, token: str = ADMIN) -> None:
    response = client.post("/dashboard/login", data={"token": token})
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_an_admin_session(secured: TestClient, path: str) -> None:
    response = secured.get(path)
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"
    secured.headers["Authorization"] = f"Bearer {ADMIN}"  # a bearer token is for the API only
    assert secured.get(path).status_code == 303


def test_the_login_form_sets_an_http_only_cookie_that_is_not_the_token(
    secured: TestClient,
) -> None:
    response = secured.post("/dashboard/login", data={"token": ADMIN})
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert ADMIN not in cookie and "Max-Age" not in cookie  # ends with the browser session
    for path in PAGES:
        assert secured.get(path).status_code == 200, path


def test_wrong_and_client_tokens_are_refused(secured: TestClient) -> None:
    wrong = secured.post("/dashboard/login", data={"token": "x" * 30})
    assert wrong.status_code == 401 and "is not one of this service" in wrong.text
    client = secured.post("/dashboard/login", data={"token": CLIENT})
    assert client.status_code == 403 and "needs an admin token" in client.text
    assert "set-cookie" not in client.headers


def test_sessions_end_when_old_or_when_the_token_is_rotated() -> None:
    tokens = Tokens.parse(f"admin:{ADMIN},client:{CLIENT}")
    now = time.time()
    cookie = auth.session_cookie(ADMIN, now)
    assert auth.is_admin_session(tokens, cookie, now + 60)
    assert not auth.is_admin_session(tokens, cookie, now + auth.SESSION_S + 1)
    assert not auth.is_admin_session(tokens, auth.session_cookie(CLIENT, now), now)
    rotated = Tokens.parse("admin:another-admin-token-0123456789")
    assert not auth.is_admin_session(rotated, cookie, now)
    issued, _, signature = cookie.partition(".")
    assert not auth.is_admin_session(tokens, f"{int(issued) + 1}.{signature}", now)
    assert not auth.is_admin_session(tokens, "garbage", now)


def test_forms_need_their_token_and_this_site(secured: TestClient) -> None:
    load_catalog_as_admin(secured)
    log_in(secured)
    page = secured.get("/dashboard/jobs").text
    token = auth.form_token(secured.cookies.get(auth.COOKIE))
    assert f'value="{token}"' in page
    assert secured.post("/dashboard/training", data={"engine": "ease"}).status_code == 403
    foreign = secured.post(
        "/dashboard/training",
        data={"engine": "ease", "form_token": token},
        headers={"Origin": "https://elsewhere.example"},
    )
    assert foreign.status_code == 403
    garbage = secured.post(
        "/dashboard/training",
        content=b"\xff\xfe=\x00",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert garbage.status_code == 403  # refused, never a 500
    started = secured.post("/dashboard/training", data={"engine": "ease", "form_token": token})
    assert started.status_code == 303 and started.headers["location"] == "/dashboard/jobs"
    jobs = secured.get("/dashboard/jobs").text
    assert "Training ease: job" in jobs  # the notice, shown once
    assert "Training ease: job" not in secured.get("/dashboard/jobs").text


def load_catalog_as_admin(client: TestClient) -> None:
    client.headers["Authorization"] = f"Bearer {ADMIN}"
    load_catalog(client, two_communities())
    del client.headers["Authorization"]


def test_without_tokens_the_dashboard_is_open_like_the_api(client: TestClient) -> None:
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    assert "Log out" not in client.get("/dashboard").text


def test_training_curves_are_grouped_padded_and_finite() -> None:
    charts = training_curves(
        {
            "loss": [2.0, 1.5, math.nan],
            "head_loss": [3.0, 2.0],
            "critic": [0.5],
            "val_NDCG@10": [0.1, 0.2, 0.3],
            "epoch_s": [1.0, 1.1, 0.9],
            "empty": [],
        }
    )
    titles = [chart.title for chart in charts]
    assert titles == ["Losses per epoch", "Validation quality per epoch", "Seconds per epoch"]
    losses = {s.label: s.values for s in charts[0].series}
    assert losses == {
        "critic": [0.5, None, None],
        "head_loss": [3.0, 2.0, None],
        "loss": [2.0, 1.5, None],
    }
    assert charts[0].x == [1.0, 2.0, 3.0] and charts[0].points == 5


def test_an_arm_is_promoted_from_the_experiment_page_once(client: TestClient) -> None:
    load_catalog(client, two_communities())
    arms = [
        {"name": "control", "engine": "popularity", "weight": 1},
        {"name": "shuffled", "engine": "random", "weight": 1},
    ]
    created = client.post("/experiments", json={"name": "x", "panels": ["v1"], "arms": arms})
    assert created.status_code == 201, created.text
    here = f"/dashboard/experiments/{created.json()['id']}"
    token = auth.form_token(None)
    page = client.get(here).text
    assert "Promote shuffled" in page and "Stop the experiment" in page
    promoted = client.post(f"{here}/promote/shuffled", data={"form_token": token})
    assert promoted.status_code == 200  # followed to the page, which says what happened
    assert "shuffled promoted" in promoted.text
    assert client.get("/engines").json()["default"] == "random"
    assert "Stop the experiment" not in client.get(here).text
    again = client.post(f"{here}/stop", data={"form_token": token})
    assert "Not stopped" in again.text
    assert client.get("/dashboard/experiments/999").status_code == 404
