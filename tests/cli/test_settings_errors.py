"""Every command that reads the settings refuses a bad one with one line that names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "command",
    [
        ["recommender", "serve"],
        ["recommender", "worker"],
        ["recommender", "db", "upgrade"],
        ["recommender", "models"],
        ["recommender", "jobs"],
        ["recommender", "train", "popularity"],
        ["recommender", "engines", "default"],
    ],
    ids=lambda command: " ".join(command[1:]),
)
def test_a_bad_setting_is_one_line_without_a_traceback(command: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {
        "LOG_LEVEL": "loud",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}",
    }
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("invalid setting LOG_LEVEL='loud': expected 'debug', 'info'")
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "never.db").exists()


def test_the_health_probe_says_why_it_cannot_start(tmp_path: Path) -> None:
    env = os.environ | {"PORT": "http"}
    result = subprocess.run(
        [str(BIN / "python"), "-m", "recommender.healthcheck", "api"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout.strip().startswith("invalid setting PORT='http': expected a valid integer")
    assert "Traceback" not in result.stderr


def test_a_level_written_in_capitals_starts_the_worker_set_up(tmp_path: Path) -> None:
    # The original's CELERY_LOG_LEVEL took INFO, WARN...: the same words pass here.
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {"LOG_LEVEL": "WARN"}
    result = subprocess.run(
        [str(BIN / "recommender"), "worker"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    # Without REDIS_URL the worker has nothing to consume: refused for that, not the level.
    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr and "LOG_LEVEL" not in result.stderr
