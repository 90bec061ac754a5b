"""The Jupyter and testing compose files (parity with the original's jupyter.yml and
docker-compose.testing.yml), checked without a container engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from recommender.config import Settings
from tests.conftest import REPO_ROOT
from tests.deploy.specs import (
    COMPOSE_JUPYTER,
    COMPOSE_TESTING,
    environment,
    instructions,
    interpolated,
    load_compose,
)

BIN = Path(sys.executable).parent


def jupyter() -> dict[str, Any]:
    service: dict[str, Any] = load_compose(COMPOSE_JUPYTER)["services"]["jupyter"]
    return service


def the_testing_file() -> dict[str, Any]:
    return load_compose(COMPOSE_TESTING)


def test_the_files_follow_the_compose_specification() -> None:
    result = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_JUPYTER),
            str(COMPOSE_TESTING),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", [COMPOSE_JUPYTER, COMPOSE_TESTING], ids=lambda p: p.name)
def test_they_need_no_variable_and_declare_their_volumes(path: Path) -> None:
    document = load_compose(path)
    interpolated(document, {})  # every `$` well formed, nothing required
    declared = set(document.get("volumes") or {})
    for name, service in document["services"].items():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if not source.startswith((".", "/", "~", "$")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_jupyter_listens_where_jupyter_run_host_and_port_say() -> None:
    service = jupyter()
    (default,) = interpolated(service, {})["ports"]
    assert default == "127.0.0.1:8888:8888"  # loopback unless asked: a notebook runs code
    (chosen,) = interpolated(service, {"JUPYTER_RUN_HOST": "0.0.0.0", "JUPYTER_RUN_PORT": "9999"})[
        "ports"
    ]
    assert chosen == "0.0.0.0:9999:8888"
    command = service["command"]
    assert command[:2] == ["jupyter", "notebook"]
    assert "--port=8888" in command and "--ip=0.0.0.0" in command


def test_jupyter_mounts_the_notebook_and_the_package() -> None:
    service = jupyter()
    mounts = dict(volume.split(":")[:2] for volume in service["volumes"])
    assert mounts["./notebooks"] == "/app/notebooks"
    assert mounts["./src"] == "/app/src"
    assert environment(service)["PYTHONPATH"] == "/app/src"  # the mounted package first
    assert "--notebook-dir=/app/notebooks" in service["command"]
    assert list((REPO_ROOT / "notebooks").glob("*.ipynb"))
    # Its image is the Dockerfile's notebook stage, which has Jupyter installed.
    assert service["build"] == {"context": ".", "target": "notebook"}
    assert any(i.arguments.endswith("AS notebook") for i in instructions() if i.keyword == "FROM")
    settings = {name.upper() for name in Settings.model_fields}
    assert set(environment(service)) - settings == {"PYTHONPATH"}


def test_the_testing_file_runs_make_test_against_its_own_services() -> None:
    document = the_testing_file()
    services = document["services"]
    assert set(services) == {"tests", "postgres", "redis"}
    tests = services["tests"]
    script = " ".join(tests["command"])
    assert script.rstrip().endswith("make test")
    assert "chromium" in script  # Debian's, for the browser tests
    for needed in ("postgres", "redis"):
        assert tests["depends_on"][needed]["condition"] == "service_healthy"
        assert services[needed]["healthcheck"]["test"]
    env = environment(tests)
    database = make_url(env["TEST_POSTGRES_URL"])
    postgres = environment(services["postgres"])
    assert database.drivername == "postgresql+psycopg"
    assert (database.host, database.port, database.database) == ("postgres", 5432, "test")
    assert postgres["POSTGRES_DB"] == "test" and postgres["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert database.username == "postgres" and database.password is None
    assert env["TEST_REDIS_URL"] == "redis://redis:6379"
    # Nothing is kept: the database lives in memory, Redis writes nothing to disk.
    assert services["postgres"]["tmpfs"] == ["/var/lib/postgresql/data"]
    assert "volumes" not in services["postgres"] and "volumes" not in services["redis"]
    assert "--save" in services["redis"]["command"]


def test_the_testing_container_uses_the_checkout_and_a_venv_of_its_own() -> None:
    tests = the_testing_file()["services"]["tests"]
    mounts = dict(volume.split(":")[:2] for volume in tests["volumes"])
    assert mounts["."] == tests["working_dir"] == "/src"
    assert mounts["test-venv"] == "/src/.venv"  # the host's .venv stays untouched
    assert tests["image"].startswith("python:3.11")


def test_the_test_suite_reads_every_variable_the_testing_file_sets() -> None:
    readers = {
        "TEST_POSTGRES_URL": REPO_ROOT / "tests" / "conftest.py",
        "TEST_REDIS_URL": REPO_ROOT / "tests" / "integration" / "conftest.py",
        "RECOMMENDER_DATA_DIR": REPO_ROOT / "tests" / "conftest.py",
    }
    env = environment(the_testing_file()["services"]["tests"])
    assert set(env) == {*readers, "PIP_EXTRA_INDEX_URL"}  # pip reads the last one
    for variable, reader in readers.items():
        assert variable in reader.read_text(), f"{reader} does not read {variable}"
