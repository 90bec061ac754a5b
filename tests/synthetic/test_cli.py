"""`recommender synth` writes the files it promises and refuses a run with nowhere to write."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from recommender.catalog.dump import validate_dump
from recommender.cli import app
from recommender.synthetic import OUTPUT_FILES

ARGS = ["synth", "--services", "60", "--users", "40", "--days", "2", "--seed", "3"]


def test_synth_writes_the_four_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*ARGS, "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(OUTPUT_FILES)
    dump = orjson.loads((tmp_path / "out" / "dump.json").read_bytes())
    assert validate_dump(dump)["users"] == 40
    assert "written to" in result.output


def test_synth_bundle_holds_what_the_files_hold(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    result = CliRunner().invoke(
        app, [*ARGS, "--bundle", str(bundle), "--output", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    doc = orjson.loads(bundle.read_bytes())
    assert set(doc) == {"dump", "user_actions", "recommendations"}
    assert doc["dump"] == orjson.loads((tmp_path / "out" / "dump.json").read_bytes())
    lines = (tmp_path / "out" / "user_actions.jsonl").read_bytes().splitlines()
    assert doc["user_actions"] == [orjson.loads(line) for line in lines]


def test_synth_needs_somewhere_to_write() -> None:
    result = CliRunner().invoke(app, ARGS)
    assert result.exit_code != 0
