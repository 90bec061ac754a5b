"""The packaged demo marketplace is valid, small, and what `synth --demo-fixture` writes today."""

from __future__ import annotations

import json
from pathlib import Path

from recommender.catalog.dump import validate_dump
from recommender.cli.synth import DEMO_CONFIG, demo_fixture_path
from recommender.contract.recommendations import RecommendationRequest
from recommender.contract.user_actions import UserActionIn
from recommender.synthetic import generate, write_bundle
from recommender.synthetic.vocabulary import load_vocabulary


def test_demo_fixture_is_small_valid_and_real_named() -> None:
    path = demo_fixture_path()
    assert path.stat().st_size < 500 * 1024
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert set(doc) == {"dump", "user_actions", "recommendations"}
    counts = validate_dump(doc["dump"])
    assert counts["services"] == len(load_vocabulary().services)
    assert 100 <= counts["users"] <= 300
    assert sum(1 for u in doc["dump"]["users"] if u["accessed_services"]) > 100
    assert {s["name"] for s in doc["dump"]["services"]} == {
        s.name for s in load_vocabulary().services
    }
    assert 200 <= len(doc["user_actions"]) <= 1000
    for action in doc["user_actions"]:
        UserActionIn.model_validate(action)
    for record in doc["recommendations"]:
        RecommendationRequest.model_validate(record["request"])
    assert any(a["action"]["order"] for a in doc["user_actions"])


def test_demo_fixture_is_up_to_date(tmp_path: Path) -> None:
    """Fails when the generator changed: run `recommender synth --demo-fixture` and commit."""
    fresh = tmp_path / "demo.json"
    write_bundle(generate(DEMO_CONFIG), fresh)
    assert fresh.read_bytes() == demo_fixture_path().read_bytes()
