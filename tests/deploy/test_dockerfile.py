"""The Dockerfile, checked without a container engine: lint, user, pins, build context, and
the package that the image installs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.deploy.specs import (
    DOCKERFILE,
    dockerignore_excludes_everything_first,
    dockerignore_inclusions,
    final_stage,
    image_command,
    instructions,
)

BIN = Path(sys.executable).parent


def project_pin(package: str) -> str:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    for requirement in pyproject["project"]["dependencies"]:
        name, _, version = requirement.partition("==")
        if name.split("[")[0] == package:
            return version
    raise AssertionError(f"{package} is not pinned in pyproject.toml")


def test_the_dockerfile_lints_clean() -> None:
    # No ignore list: every rule holds, style and info included.
    result = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_the_image_builds_from_slim_python_of_the_project_version() -> None:
    bases = [i.arguments.split()[0] for i in instructions() if i.keyword == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases)


def test_the_image_runs_as_an_unprivileged_user() -> None:
    users = [i.arguments for i in final_stage() if i.keyword == "USER"]
    assert users, "the final stage runs as root"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and int(user) >= 1000 and (not group or int(group) >= 1000)


def test_torch_is_the_cpu_build_at_the_project_pin() -> None:
    torch = [i.arguments for i in instructions() if i.keyword == "RUN" and "torch==" in i.arguments]
    assert len(torch) == 1
    assert f"torch=={project_pin('torch')}" in torch[0].split()
    index = re.search(r"--index-url (\S+)", torch[0])
    assert index is not None and index.group(1).rstrip("/").endswith("/cpu")


def test_the_notebook_image_has_the_projects_pin_of_jupyter() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    (pin,) = pyproject["project"]["optional-dependencies"]["notebook"]
    stage = next(i.stage for i in instructions() if i.arguments.endswith("AS notebook"))
    installs = [i.arguments for i in instructions() if i.stage == stage and i.keyword == "RUN"]
    assert any(f"pip install {pin}" in line for line in installs), installs


def test_the_image_serves_the_api_by_default() -> None:
    assert image_command("ENTRYPOINT") is None  # so `docker run IMAGE recommender worker` works
    assert image_command("CMD") == ["recommender", "serve", "--host", "0.0.0.0", "--workers", "2"]
    assert any(i.keyword == "EXPOSE" and i.arguments == "8000" for i in final_stage())


def test_the_build_context_holds_what_the_image_copies() -> None:
    assert dockerignore_excludes_everything_first()
    allowed = dockerignore_inclusions()
    for copy in (i for i in instructions() if i.keyword == "COPY"):
        if copy.arguments.startswith("--from="):
            continue
        *sources, _destination = copy.arguments.split()
        for source in sources:
            assert source.rstrip("/") in allowed, f"{source} is left out of the build context"
            assert (REPO_ROOT / source).exists(), source


@pytest.mark.slow
def test_the_installed_package_carries_every_file(tmp_path: Path) -> None:
    """The image installs a built wheel, not the checkout: nothing may be left behind."""
    context = tmp_path / "context"
    context.mkdir()
    for name in dockerignore_inclusions():  # exactly what `docker build` would send
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, context / name)
    built = subprocess.run(
        [
            str(BIN / "python"),
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "wheel"),
            str(context),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(
        ["git", "ls-files", "src/recommender"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked
    missing = [path for path in tracked if path.removeprefix("src/") not in packaged]
    assert not missing, f"left out of the installed package: {missing}"
