"""A server process keeps its start-up objects out of the garbage collector's full passes and
hands the interpreter to a waiting thread sooner, and still serves; an app built in a test
process leaves that process's collector and switch interval alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from recommender.api.app import SWITCH_INTERVAL_S

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SWITCH_S = 0.005  # Python's own

SERVE = """
import gc, json, sys
from fastapi.testclient import TestClient
from recommender.api.app import create_app, server_app
from tests.api.conftest import load_catalog
from tests.factories import recommendation_request, two_communities

build = server_app if sys.argv[1] == "server" else create_app
with TestClient(build()) as client:
    frozen = gc.get_freeze_count()
    switch = sys.getswitchinterval()
    load_catalog(client, two_communities())
    answer = client.post("/recommendations", json=recommendation_request())
print(json.dumps({"status": answer.status_code, "frozen": frozen, "switch": switch}))
"""


def _serve(kind: str, folder: Path) -> dict[str, float]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / kind}.db",
        "ARTIFACT_DIR": str(folder / "artifacts"),
        "REDIS_URL": "",
    }
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SERVE), kind],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    said: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return said


def test_a_server_process_freezes_what_start_up_left_and_serves(tmp_path: Path) -> None:
    server = _serve("server", tmp_path)
    assert server["status"] == 200
    # The libraries alone leave far more than this many objects behind.
    assert server["frozen"] > 10_000
    assert server["switch"] == SWITCH_INTERVAL_S < DEFAULT_SWITCH_S


def test_an_app_built_by_a_test_freezes_nothing(tmp_path: Path) -> None:
    built = _serve("test", tmp_path)
    assert built["frozen"] == 0
    assert built["switch"] == DEFAULT_SWITCH_S
