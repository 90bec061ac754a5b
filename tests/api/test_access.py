"""Access control: every admin endpoint without a token, with a client token, with a wrong one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recommender.api.app import create_app
from recommender.api.security import (
    Tokens,
    TokenSpecError,
    UnsafeBindError,
    check_bind,
    fingerprint,
)
from tests.api.conftest import make_settings
from tests.factories import recommendation_request, two_communities, user_action

ADMIN = "admin-token-0123456789"
CLIENT = "client-token-0123456789"
OTHER_CLIENT = "client-token-abcdefghij"

ADMIN_ENDPOINTS: list[tuple[str, str, Any]] = [
    ("post", "/database_dumps", two_communities()),
    ("post", "/update", two_communities()),
    ("get", "/training", None),
    ("post", "/training", None),
    ("get", "/tasks", None),
    ("get", "/tasks/some-id", None),
    ("get", "/models", None),
    ("get", "/models/ease", None),
    ("post", "/models/ease/1/activate", None),
    ("put", "/engines/default", {"engine": "random"}),
    (
        "post",
        "/experiments",
        {
            "name": "e",
            "panels": ["v1"],
            "arms": [
                {"name": "a", "engine": "popularity", "weight": 1},
                {"name": "b", "engine": "random", "weight": 1},
            ],
        },
    ),
    ("get", "/experiments", None),
    ("get", "/experiments/1", None),
    ("post", "/experiments/1/stop", None),
    ("post", "/experiments/1/promote/a", None),
]
CLIENT_ENDPOINTS: list[tuple[str, str, Any]] = [
    ("post", "/recommendations", recommendation_request()),
    ("post", "/user_actions", user_action()),
    ("get", "/engines", None),
]


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'a.db'}",
        tmp_path,
        api_tokens=f"admin:{ADMIN},client:{CLIENT},client:{OTHER_CLIENT}",
    )
    with TestClient(create_app(settings)) as client:
        yield client


def call(client: TestClient, method: str, path: str, body: Any, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    return getattr(client, method)(path, **kwargs)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ENDPOINTS)
def test_admin_endpoints(secured: TestClient, method: str, path: str, body: Any) -> None:
    missing = call(secured, method, path, body, None)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert call(secured, method, path, body, "wrong-token-0123456789").status_code == 401
    forbidden = call(secured, method, path, body, CLIENT)
    assert forbidden.status_code == 403 and "admin token" in forbidden.json()["message"]
    assert call(secured, method, path, body, ADMIN).status_code not in (401, 403)


@pytest.mark.parametrize(("method", "path", "body"), CLIENT_ENDPOINTS)
def test_client_endpoints(secured: TestClient, method: str, path: str, body: Any) -> None:
    assert call(secured, method, path, body, None).status_code == 401
    assert call(secured, method, path, body, "not-a-known-token-xyz").status_code == 401
    for token in (CLIENT, OTHER_CLIENT, ADMIN):
        assert call(secured, method, path, body, token).status_code in (200, 204)


def test_health_metrics_and_docs_stay_open(secured: TestClient) -> None:
    assert secured.get("/health").status_code in (200, 503)
    assert secured.get("/metrics").status_code == 200
    assert secured.get("/openapi.json").status_code == 200


def test_malformed_authorization_headers(secured: TestClient) -> None:
    for header in ("Basic abc", "Bearer", "Bearer    ", CLIENT, f"Token {CLIENT}"):
        response = secured.post(
            "/recommendations", json=recommendation_request(), headers={"Authorization": header}
        )
        assert response.status_code == 401, header


def test_token_specs() -> None:
    tokens = Tokens.parse(f"admin:{ADMIN}, client:{CLIENT},CLIENT:{OTHER_CLIENT}")
    assert tokens.role_of(ADMIN) == "admin" and tokens.role_of(OTHER_CLIENT) == "client"
    assert tokens.role_of(ADMIN + "x") is None and tokens.role_of("") is None
    for bad in ("admin", "root:0123456789abcdefgh", "client:short", "admin:"):
        with pytest.raises(TokenSpecError):
            Tokens.parse(bad)
    assert not Tokens.parse(None).enabled and not Tokens.parse("").enabled


def test_an_open_api_is_refused_beyond_loopback() -> None:
    open_api = Tokens.parse(None)
    for loopback in ("127.0.0.1", "::1", "localhost"):
        check_bind(loopback, open_api, allow_anonymous=False)
    with pytest.raises(UnsafeBindError, match="API_TOKENS"):
        check_bind("0.0.0.0", open_api, allow_anonymous=False)
    check_bind("0.0.0.0", open_api, allow_anonymous=True)
    check_bind("0.0.0.0", Tokens.parse(f"admin:{ADMIN}"), allow_anonymous=False)


def test_tokens_never_reach_the_logs(secured: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    call(secured, "post", "/recommendations", recommendation_request(), CLIENT)
    call(secured, "post", "/recommendations", recommendation_request(), "wrong-token-0123456789")
    call(secured, "post", "/training", None, CLIENT)
    assert caplog.records, "requests are logged"
    text = "\n".join(str(record.__dict__) for record in caplog.records)
    assert CLIENT not in text and "wrong-token-0123456789" not in text
    callers = {
        getattr(r, "caller", None) for r in caplog.records if r.name == "recommender.requests"
    }
    assert f"client:{fingerprint(CLIENT)}" in callers, "requests name their caller by fingerprint"
