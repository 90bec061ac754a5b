"""The pre-commit hooks: a valid configuration, tools of this environment, and a clean pass
over every tracked file (in a copy, since several hooks fix files in place)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent
CONFIG = REPO_ROOT / ".pre-commit-config.yaml"
VENV_BIN = ".venv/bin/"


def hooks() -> list[dict[str, object]]:
    config = yaml.safe_load(CONFIG.read_text())
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


def test_the_configuration_is_valid() -> None:
    result = subprocess.run(
        [str(BIN / "pre-commit"), "validate-config", str(CONFIG)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_hook_runs_a_tool_of_this_environment() -> None:
    # Local hooks only: nothing is fetched, and the versions are pyproject.toml's pins.
    config = yaml.safe_load(CONFIG.read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    for hook in hooks():
        program = str(hook["entry"]).split()[0]
        assert program.startswith(VENV_BIN), f"{hook['id']} runs {program}"
        assert (BIN / program.removeprefix(VENV_BIN)).exists(), f"{program} is not installed"


def test_the_hooks_cover_the_house_rules() -> None:
    ids = {str(hook["id"]) for hook in hooks()}
    assert {
        "ruff-check",
        "ruff-format",
        "mypy",
        "end-of-file-fixer",
        "trailing-whitespace",
        "check-yaml",
        "check-json",
        "check-toml",
    } <= ids


@pytest.mark.slow
def test_every_tracked_file_passes(tmp_path: Path) -> None:
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    copy = tmp_path / "repo"
    for name in filter(None, tracked):
        source = REPO_ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    if (REPO_ROOT / ".mypy_cache").is_dir():  # warm after `make lint`: seconds, not a minute
        shutil.copytree(REPO_ROOT / ".mypy_cache", copy / ".mypy_cache")
    git = ["git", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "--quiet"], cwd=copy, check=True)
    subprocess.run(["git", "add", "--all"], cwd=copy, check=True)
    # The hooks call .venv/bin/...: this environment's tools, whatever its folder is called.
    (copy / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    result = subprocess.run(
        [str(BIN / "pre-commit"), "run", "--all-files", "--show-diff-on-failure", "--color=never"],
        cwd=copy,
        env={**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
