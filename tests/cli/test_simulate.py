"""`recommender simulate` end to end on a tiny marketplace, and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from recommender.cli import app

runner = CliRunner()
TINY = ["--services", "60", "--users", "120", "--days", "4", "--episodes", "20", "--steps", "3"]


def test_simulate_prints_a_table_and_writes_the_report(tmp_path: Path) -> None:
    output = tmp_path / "sim.json"
    result = runner.invoke(
        app,
        [
            "simulate",
            "--engines",
            "popularity,random",
            "--seeds",
            "2",
            *TINY,
            "--rewards",
            "order=3",
            "-p",
            "popularity.smoothing=2",
            "--browse",
            "--output",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "popularity" in result.output and "random" in result.output
    doc = json.loads(output.read_text())
    assert set(doc) == {"results", "config"}
    assert list(doc["results"]) == ["popularity", "random"]
    for figures in doc["results"].values():
        low, high = figures["ci95"]
        assert low <= figures["mean_return"] <= high
        assert 0 <= figures["order_rate"] <= figures["ctr"] <= 1
        assert figures["episodes"] == 40
    config = doc["config"]
    assert config["seeds"] == [0, 1]
    assert config["marketplace"]["services"] == 60
    assert config["rewards"]["order"] == 3.0
    assert config["params"]["popularity"] == {"smoothing": 2}
    assert config["browse"] is True


def test_an_unknown_engine_is_refused_by_name() -> None:
    result = runner.invoke(app, ["simulate", "--engines", "popularity,nope", *TINY])
    assert result.exit_code == 2
    assert "unknown engine 'nope'" in result.output


def test_reward_values_that_do_not_grow_are_refused() -> None:
    result = runner.invoke(app, ["simulate", "--rewards", "order=0.1", *TINY])
    assert result.exit_code == 2
    assert "reward values must grow" in result.output
