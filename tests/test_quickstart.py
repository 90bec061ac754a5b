"""The README's quick start, as a new user would follow it: serve, demo, recommend, act."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_quick_start(tmp_path: Path) -> None:
    # What `make run` runs, with the embedded defaults: nothing configured but the port.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env["PORT"] = str(free_port())
    base = f"http://127.0.0.1:{env['PORT']}"
    server = subprocess.Popen(
        [str(BIN / "recommender"), "serve"], cwd=tmp_path, env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                assert time.monotonic() < deadline, "the server did not start within a minute"
                time.sleep(0.3)
        assert health.status_code == 503
        assert health.json()["components"]["catalog"]["status"] == "empty"
        assert httpx.get(f"{base}/").status_code == 200  # Swagger UI
        assert (tmp_path / "var" / "recommender.db").exists()

        demo = subprocess.run(
            [str(BIN / "recommender"), "demo"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert demo.returncode == 0, demo.stderr
        assert "imported" in demo.stdout

        def healthy() -> bool:
            return httpx.get(f"{base}/health", timeout=5).status_code == 200

        deadline = time.monotonic() + 30
        while not healthy():  # the server notices the new catalogue by itself
            assert time.monotonic() < deadline, "the server did not pick up the demo catalogue"
            time.sleep(0.5)

        body = {
            "unique_id": "browser-1",
            "timestamp": "2026-11-27T10:00:00Z",
            "page_id": "/services",
            "user_id": 1,
        }
        answer = httpx.post(f"{base}/recommendations", json=body, timeout=10).json()
        assert len(answer["recommendations"]) == 3
        assert all(answer["explanations_short"])
        clicked = answer["recommendations"][0]
        action = {
            "unique_id": "browser-1",
            "timestamp": "2026-11-27T10:00:05Z",
            "user_id": 1,
            "recommendation_id": answer["recommendation_id"],
            "source": {
                "visit_id": "v1",
                "page_id": "/services",
                "root": {"type": "recommendation_panel", "panel_id": "v1", "service_id": clicked},
            },
            "target": {"visit_id": "v2", "page_id": f"/services/{clicked}"},
            "action": {"type": "button", "text": "Details", "order": False},
        }
        assert httpx.post(f"{base}/user_actions", json=action, timeout=10).status_code == 204
    finally:
        server.terminate()
        server.wait(timeout=30)
