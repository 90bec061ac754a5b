from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recommender.cli import app

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    from recommender.config import get_settings

    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["experiments", *args], env={"COLUMNS": "240"})
    return result.exit_code, result.output


def test_start_show_promote_from_the_terminal(store: str) -> None:
    code, output = run("start", "pop-vs-rand", "--arm", "control=popularity", "--arm", "r=random@3")
    assert code == 0, output
    assert "experiment 1 (pop-vs-rand) is running on v1" in output
    code, output = run()
    assert code == 0 and "pop-vs-rand" in output and "r=random@3" in output
    code, output = run("show", "1")
    assert code == 0, output
    assert "control" in output and "mSPRT" in output
    code, output = run("promote", "1", "r")
    assert code == 0, output
    assert "random is the default engine now" in output
    code, output = run("stop", "1")
    assert code == 1 and "is promoted" in output


def test_bad_arms_are_refused_with_the_reason(store: str) -> None:
    code, output = run("start", "x", "--arm", "a=popularity", "--arm", "b=gpt")
    assert code == 1 and "arms.1.engine" in output
    code, output = run("start", "x", "--arm", "a=popularity", "--arm", "not an arm")
    assert code == 2 and "NAME=ENGINE" in output
    code, output = run("show", "9")
    assert code == 1 and "no experiment 9" in output


def test_estimate_prints_both_estimators_or_names_what_is_wrong(store: str) -> None:
    code, output = run("start", "pop-vs-ease", "--arm", "c=popularity", "--arm", "t=ease")
    assert code == 0, output
    code, output = run("estimate", "1", "--engine", "popularity")
    assert code == 0, output
    assert "IPS" in output and "SNIPS" in output and "0 impressions" in output
    code, output = run("estimate", "1", "--engine", "gpt")
    assert code == 1 and "engine" in output
    code, output = run("estimate", "1", "--engine", "popularity", "--method", "slot")
    assert code == 1 and "method" in output and "no random arm" in output
    code, output = run("estimate", "1", "--engine", "popularity", "--method", "bandit")
    assert code == 1 and "method" in output
    code, output = run("estimate", "9", "--engine", "popularity")
    assert code == 1 and "no experiment 9" in output
