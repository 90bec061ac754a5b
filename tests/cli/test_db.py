"""`recommender db prune` deletes what the retention windows let go, and says how much."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from recommender.cli import app
from recommender.store import migrate
from recommender.store.database import Database
from recommender.store.schema import UserAction
from tests.activity.test_retention import acted

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    from recommender.config import get_settings

    get_settings.cache_clear()
    db = Database(url, pool_size=1)
    migrate.upgrade(db.engine)
    yield db
    db.dispose()
    get_settings.cache_clear()


def actions(db: Database) -> int:
    with db.snapshot() as conn:
        return int(conn.scalar(select(func.count()).select_from(UserAction)) or 0)


def test_prune_without_windows_says_so_and_keeps_everything(store: Database) -> None:
    acted(store, 10_000)
    result = runner.invoke(app, ["db", "prune"])
    assert result.exit_code == 0, result.output
    assert "no retention window is set" in result.output
    assert actions(store) == 1


def test_prune_deletes_old_actions_and_keeps_orders(store: Database) -> None:
    acted(store, 10_000)
    acted(store, 10_000, order=True)
    result = runner.invoke(app, ["db", "prune", "--action-days", "30"])
    assert result.exit_code == 0, result.output
    assert "deleted 0 impressions and 1 user actions" in result.output
    assert actions(store) == 1


def test_a_negative_window_is_refused_naming_the_option(store: Database) -> None:
    result = runner.invoke(app, ["db", "prune", "--action-days", "-1"])
    assert result.exit_code == 2
    assert "--action-days" in result.output
