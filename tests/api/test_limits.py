"""Rate limits, request ids and CORS as a client sees them."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from recommender.api.app import create_app
from recommender.api.ratelimit import TokenBuckets
from tests.api.conftest import make_settings
from tests.factories import recommendation_request


def test_token_bucket() -> None:
    buckets = TokenBuckets(rate=2.0, burst=3)
    assert [buckets.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", now=0.0) == 0.5
    assert buckets.take("b", now=0.0) == 0.0, "clients have buckets of their own"
    assert buckets.take("a", now=1.0) == 0.0  # refilled


def test_over_the_limit_is_429_with_retry_after(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'l.db'}", tmp_path, rate_limit_per_s=0.5, rate_limit_burst=2
    )
    with TestClient(create_app(settings)) as client:
        statuses = [
            client.post("/recommendations", json=recommendation_request()).status_code
            for _ in range(4)
        ]
        assert statuses[:2] == [200, 200] and statuses[2:] == [429, 429]
        limited = client.post("/recommendations", json=recommendation_request())
        assert int(limited.headers["Retry-After"]) >= 1
        assert "too many requests" in limited.json()["message"]
        # Other endpoints are not limited.
        assert client.get("/health").status_code in (200, 503)


def test_request_ids_are_kept_or_made(client: TestClient) -> None:
    made = client.get("/health").headers["X-Request-Id"]
    assert len(made) == 32
    kept = client.get("/health", headers={"X-Request-Id": "portal-abc-123"})
    assert kept.headers["X-Request-Id"] == "portal-abc-123"
    unsafe = client.get("/health", headers={"X-Request-Id": "x\ny" * 100})
    assert unsafe.headers["X-Request-Id"] != "x\ny" * 100


def test_cors_when_configured(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'c.db'}", tmp_path, cors_origins="https://marketplace.example.org"
    )
    with TestClient(create_app(settings)) as client:
        allowed = client.options(
            "/recommendations",
            headers={
                "Origin": "https://marketplace.example.org",
                "Access-Control-Request-Method": "POST",
            },
        )
        assert allowed.headers["access-control-allow-origin"] == "https://marketplace.example.org"
        other = client.get("/health", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers


def test_no_cors_headers_by_default(client: TestClient) -> None:
    response = client.get("/health", headers={"Origin": "https://marketplace.example.org"})
    assert "access-control-allow-origin" not in response.headers
