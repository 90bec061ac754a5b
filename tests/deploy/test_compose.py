"""The compose files, checked without a container engine: the Compose Specification's schema,
then what `docker compose config` and `up` would refuse or get wrong beyond the schema, for
the production stack (compose.yaml) and the development one (compose.yaml with
compose.override.yaml merged on top, as `docker compose up` reads them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from recommender.config import Settings
from tests.deploy.specs import (
    COMPOSE,
    COMPOSE_OVERRIDE,
    environment,
    image_healthcheck,
    interpolated,
    load_compose,
    merged,
)

BIN = Path(sys.executable).parent
REQUIRED = {"POSTGRES_PASSWORD": "secret"}
OUR_SERVICES = {"migrate", "api", "worker", "scheduler", "subscriber"}
# Variables our services are given that are not Settings fields, and who reads them.
OTHER_READERS = {
    "PYTHONPATH": "Python: the development override's mounted source",
    "WATCHFILES_FORCE_POLLING": "uvicorn's reloader",
}


def base() -> dict[str, Any]:
    return load_compose(COMPOSE)


def override() -> dict[str, Any]:
    return load_compose(COMPOSE_OVERRIDE)


def development() -> dict[str, Any]:
    return merged(base(), override())


def test_the_files_follow_the_compose_specification() -> None:
    result = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
            str(COMPOSE_OVERRIDE),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", [COMPOSE, COMPOSE_OVERRIDE], ids=lambda p: p.name)
def test_every_variable_is_well_formed(path: Path) -> None:
    interpolated(load_compose(path), REQUIRED)  # raises on a malformed `$`


@pytest.mark.parametrize("stack", [base, development], ids=["production", "development"])
def test_only_the_database_password_must_be_given(stack: Any) -> None:
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
        interpolated(stack(), {})
    document = interpolated(stack(), REQUIRED)
    env = environment(document["services"]["api"])
    assert make_url(env["DATABASE_URL"]).password == REQUIRED["POSTGRES_PASSWORD"]


def test_the_merge_reads_as_compose_does() -> None:
    api = development()["services"]["api"]
    assert api["command"] == override()["services"]["api"]["command"]  # replaced
    assert api["image"] == base()["services"]["api"]["image"]  # kept
    env = environment(api)
    assert env["REDIS_URL"] == "redis://redis:6379/0"  # from the base
    assert env["ALLOW_ANONYMOUS"] == "true"  # the override wins
    assert api["ports"] == ["${API_PORT:-8000}:8000"]


def test_the_development_api_is_one_process_that_reloads() -> None:
    command = development()["services"]["api"]["command"]
    assert "--reload" in command
    # `serve` refuses --reload with several processes.
    workers = command[command.index("--workers") + 1] if "--workers" in command else "1"
    assert workers == "1"


def test_development_services_import_the_mounted_source() -> None:
    for name, service in development()["services"].items():
        path = environment(service).get("PYTHONPATH")
        if path is None:
            continue
        mounted = {str(v).split(":")[1] for v in service.get("volumes") or []}
        assert path in mounted, f"{name} imports {path}, which is not mounted"


def test_services_wait_for_what_they_need() -> None:
    services = base()["services"]
    assert set(services) == {
        "migrate",
        "api",
        "worker",
        "scheduler",
        "subscriber",
        "postgres",
        "redis",
    }
    order: dict[str, set[str]] = {}
    for name, service in services.items():
        needs = service.get("depends_on") or {}
        assert isinstance(needs, dict), f"{name}: depends_on should name its conditions"
        order[name] = set(needs)
        for target, condition in needs.items():
            assert target in services, f"{name} depends on unknown service {target}"
            wanted = condition["condition"]
            if wanted == "service_healthy":
                check = services[target].get("healthcheck") or {}
                assert not check.get("disable"), f"{target} has its health check disabled"
                assert check.get("test") or "build" in services[target], (
                    f"{name} waits for {target} to be healthy, which has no health check"
                )
            else:
                assert wanted == "service_completed_successfully", f"{name}: {wanted}"
                assert services[target].get("restart") == "no", f"{target} must run once"
    for name in ("api", "worker", "scheduler", "subscriber"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["postgres"]["condition"] == "service_healthy"
        assert needs["redis"]["condition"] == "service_healthy"
    # No cycle: repeatedly start whatever has nothing left to wait for.
    waiting = {name: set(needs) for name, needs in order.items()}
    while waiting:
        ready = [name for name, needs in waiting.items() if not needs]
        assert ready, f"services wait for each other in a cycle: {sorted(waiting)}"
        for name in ready:
            del waiting[name]
        for needs in waiting.values():
            needs.difference_update(ready)


def test_every_service_has_a_health_check_or_runs_once() -> None:
    services = base()["services"]
    assert services["migrate"]["healthcheck"] == {"disable": True}
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert services["worker"]["healthcheck"]["test"][1:] == [
        "python",
        "-m",
        "recommender.healthcheck",
        "worker",
    ]
    assert services["scheduler"]["healthcheck"]["test"][1:5] == [
        "python",
        "-m",
        "recommender.healthcheck",
        "scheduler",
    ]
    assert services["scheduler"]["deploy"]["replicas"] == 1  # one scheduler, or twice the work
    assert services["subscriber"]["healthcheck"]["test"][1:] == [
        "python",
        "-m",
        "recommender.healthcheck",
        "subscriber",
    ]
    assert services["subscriber"]["profiles"] == ["databus"]  # only where there is a databus
    assert "healthcheck" not in services["api"]  # the image's own
    assert image_healthcheck()[-1] == "api"


def test_named_volumes_are_declared() -> None:
    declared = set(base().get("volumes") or {})
    for document in (base(), override()):
        for name, service in document["services"].items():
            for volume in service.get("volumes") or []:
                source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
                if not source.startswith((".", "/", "~")):
                    assert source in declared, f"{name} mounts undeclared volume {source}"


def test_the_override_only_adjusts_the_stack() -> None:
    services = base()["services"]
    for name, service in override()["services"].items():
        assert name in services, f"the override adds a service {name} without an image"
        assert "image" not in service and "build" not in service, name


def test_our_services_read_every_variable_they_are_given() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    for document in (base(), override()):
        for name, service in document["services"].items():
            if name in OUR_SERVICES:
                unknown = set(environment(service)) - settings - set(OTHER_READERS)
                assert not unknown, f"{name} is given variables nothing reads: {unknown}"


def test_our_services_share_one_image_and_reach_the_stack() -> None:
    document = interpolated(base(), REQUIRED)
    services = document["services"]
    postgres = environment(services["postgres"])
    for name in OUR_SERVICES:
        service = services[name]
        assert service["image"] == services["api"]["image"]
        assert service["build"] == "."
        env = environment(service)
        database = make_url(env["DATABASE_URL"])
        assert database.drivername == "postgresql+psycopg"  # the driver the project installs
        assert (database.host, database.port) == ("postgres", 5432)
        assert database.username == postgres["POSTGRES_USER"]
        assert database.password == postgres["POSTGRES_PASSWORD"] == REQUIRED["POSTGRES_PASSWORD"]
        assert database.database == postgres["POSTGRES_DB"]
        assert env["REDIS_URL"].startswith("redis://redis:6379/")


def test_state_lives_in_volumes() -> None:
    services = base()["services"]
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "redis-data:/data" in services["redis"]["volumes"]
    assert "--appendonly" in services["redis"]["command"]


def test_no_secret_is_written_in_the_files() -> None:
    for document in (base(), override()):
        for name, service in document["services"].items():
            for variable, value in environment(service).items():
                if any(word in variable for word in ("PASSWORD", "TOKEN", "SECRET", "DSN")):
                    assert value.startswith("${"), f"{name}: {variable} is written in the file"
                if "://" in value:
                    # A URL's password comes from a variable too.
                    password = make_url(value).password
                    assert password is None or str(password).startswith("${"), (
                        f"{name}: {variable} has a password written in the file"
                    )
