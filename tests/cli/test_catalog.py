from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from recommender.cli import app
from recommender.cli.catalog import demo_fixture
from recommender.store.schema import Recommendation, Service, UserAction

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    from recommender.config import get_settings

    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def count(url: str, column: object) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        value = int(conn.execute(select(func.count(column))).scalar_one())
    engine.dispose()
    return value


def write_lines(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_load_dump_and_import_activity(store: str, tmp_path: Path) -> None:
    fixture = demo_fixture()
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(fixture["dump"]))
    result = runner.invoke(app, ["load-dump", str(dump)])
    assert result.exit_code == 0, result.output
    assert count(store, Service.id) == len(fixture["dump"]["services"])

    panels = write_lines(tmp_path / "panels.jsonl", fixture["recommendations"])
    actions = write_lines(tmp_path / "actions.jsonl", fixture["user_actions"])
    result = runner.invoke(
        app, ["import-activity", "--recommendations", str(panels), "--actions", str(actions)]
    )
    assert result.exit_code == 0, result.output
    assert count(store, Recommendation.id) == len(fixture["recommendations"])
    assert count(store, UserAction.id) == len(fixture["user_actions"])
    assert count(store, UserAction.recommendation_id) > 0, "clicks are linked to their panels"
    aai_only = {
        r["request"]["aai_uid"]
        for r in fixture["recommendations"]
        if r["request"].get("aai_uid") and r["request"].get("user_id") is None
    }
    assert aai_only, "the demo has panels served to a user known only by an AAI id"
    engine = create_engine(store)
    with engine.connect() as conn:
        unresolved = conn.execute(
            select(Recommendation.id).where(
                Recommendation.aai_uid.in_(aai_only), Recommendation.user_id.is_(None)
            )
        ).all()
    engine.dispose()
    assert unresolved == [], "a panel served to an AAI identity belongs to its user"


def test_a_bad_line_names_itself_and_keeps_nothing(store: str, tmp_path: Path) -> None:
    rows = demo_fixture()["user_actions"][:3]
    rows[2] = {**rows[2], "timestamp": "not a time"}
    actions = write_lines(tmp_path / "actions.jsonl", rows)
    result = runner.invoke(app, ["import-activity", "--actions", str(actions)])
    assert result.exit_code == 1
    assert "line 3" in result.output
    assert count(store, UserAction.id) == 0


def test_an_invalid_dump_file_is_refused(store: str, tmp_path: Path) -> None:
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps({"services": [{"id": 1}]}))
    result = runner.invoke(app, ["load-dump", str(dump)])
    assert result.exit_code == 1
    assert "users: required array is missing" in result.output


def test_load_dump_reads_a_pipe(store: str, tmp_path: Path) -> None:
    # As in `... exec -T api recommender load-dump /dev/stdin < dump.json`: readable once.
    fixture = demo_fixture()
    pipe = tmp_path / "stdin"
    os.mkfifo(pipe)
    writer = threading.Thread(target=pipe.write_text, args=(json.dumps(fixture["dump"]),))
    writer.start()
    result = runner.invoke(app, ["load-dump", str(pipe)])
    writer.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert count(store, Service.id) == len(fixture["dump"]["services"])
