from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recommender.cli import app
from recommender.cli.catalog import demo_fixture

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("ENGINE_MAX_ITEMS", "ease=2")
    from recommender.config import get_settings

    get_settings.cache_clear()
    dump = demo_fixture()["dump"]
    (tmp_path / "dump.json").write_text(json.dumps(dump))
    loaded = runner.invoke(app, ["load-dump", str(tmp_path / "dump.json")])
    assert loaded.exit_code == 0, loaded.output
    yield len(dump["services"])
    get_settings.cache_clear()


def test_train_refuses_an_engine_over_its_item_limit_by_name(store: int) -> None:
    result = runner.invoke(app, ["train", "ease"])
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "ease is limited to 2 services" in said and "ENGINE_MAX_ITEMS" in said


def test_the_engine_list_shows_each_limit_with_the_operators_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from recommender.config import get_settings

    monkeypatch.setenv("ENGINE_MAX_ITEMS", "ials=5000")
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["engines"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.output.splitlines() if "│" in line}
    assert "20,000" in rows["ease"] and "per service pair" in rows["ease"]
    assert "5,000" in rows["ials"]


def test_train_refuses_processes_for_an_engine_that_trains_in_one(store: int) -> None:
    result = runner.invoke(app, ["train", "ials", "--processes", "2"])
    assert result.exit_code == 2
    assert "ials trains in one process only" in " ".join(result.output.split())


@pytest.mark.slow
def test_ncf_trains_across_two_processes_and_registers_once(
    store: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import select

    from recommender.config import get_settings
    from recommender.store.database import Database
    from recommender.store.schema import ModelVersion, Task

    monkeypatch.setenv("ENGINE_PARAMS_FILE", str(Path(__file__).parents[1] / "engine_params.toml"))
    get_settings.cache_clear()
    result = runner.invoke(app, ["train", "ncf", "--processes", "2"])
    assert result.exit_code == 0, result.output
    assert "ncf" in result.output
    db = Database(get_settings().database_url, pool_size=1)
    try:
        with db.engine.connect() as conn:
            models = conn.execute(select(ModelVersion.engine, ModelVersion.version)).all()
            jobs = conn.execute(select(Task.name, Task.state)).all()
    finally:
        db.dispose()
    assert [tuple(row) for row in models] == [("ncf", 1)]
    assert [tuple(row) for row in jobs] == [("train", "succeeded")]
