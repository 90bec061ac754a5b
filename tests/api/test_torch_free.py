"""Serving with classical engines never loads PyTorch: a fresh interpreter builds the app,
loads a catalogue and answers a recommendation, and PyTorch is not among its modules."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SERVE = """
import json, sys
from pathlib import Path
from fastapi.testclient import TestClient
from recommender.api.app import create_app
from tests.api.conftest import load_catalog, make_settings
from tests.factories import recommendation_request, two_communities

folder = Path(sys.argv[1])
app = create_app(make_settings(f"sqlite:///{folder / 'serve.db'}", folder))
with TestClient(app) as client:
    load_catalog(client, two_communities())
    answer = client.post(
        "/recommendations", json=recommendation_request(engine_version="popularity")
    )
    engines = client.get("/engines")
print(json.dumps({
    "status": answer.status_code,
    "body": answer.json(),
    "engines": engines.status_code,
    "torch": "torch" in sys.modules,
}))
"""


def test_a_popularity_recommendation_does_not_import_torch(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SERVE), str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout.strip().splitlines()[-1])
    assert said["status"] == 200, said
    assert said["body"]["engine_version"] == "popularity"
    assert len(said["body"]["recommendations"]) == 3
    assert said["engines"] == 200
    assert said["torch"] is False
