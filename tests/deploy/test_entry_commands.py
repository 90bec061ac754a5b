"""The image's and the stack's commands, run as they are written, in this environment.

The compose stack without containers: `migrate` upgrades an empty PostgreSQL database, the
`worker` command consumes jobs from Redis, the image's default command serves with gunicorn,
and the health checks of both answer. Only the bind address differs (loopback here)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import text

from recommender.cli.catalog import demo_fixture
from tests.conftest import PostgresServer
from tests.deploy.specs import (
    COMPOSE,
    image_command,
    image_healthcheck,
    interpolated,
    load_compose,
)
from tests.integration.conftest import redis_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local(command: list[str]) -> list[str]:
    """A container command as it runs in this environment: its programs from this venv."""
    program, *arguments = command
    return [sys.executable if program == "python" else str(BIN / program), *arguments]


def loopback(command: list[str]) -> list[str]:
    """The same command bound to the loopback address rather than every interface."""
    return ["127.0.0.1" if part == "0.0.0.0" else part for part in command]


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def stop(process: subprocess.Popen[bytes], timeout: float = 45) -> int:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            raise
    return process.returncode


@pytest.fixture
def stack_env(postgres_server: PostgresServer) -> Iterator[dict[str, str]]:
    """An empty PostgreSQL database (nothing migrated) and a Redis database of their own."""
    name = f"recommender_test_{uuid.uuid4().hex[:12]}"
    with postgres_server.admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    postgres_server.created.append(name)
    env = {
        **os.environ,
        "DATABASE_URL": postgres_server.url_for(name),
        "REDIS_URL": redis_url(),
        "PORT": str(free_port()),
        "REFRESH_INTERVAL_S": "0.5",
        "LOG_LEVEL": "info",
    }
    yield env
    postgres_server.drop(name)


def compose_commands() -> dict[str, list[str]]:
    document = interpolated(load_compose(COMPOSE), {"POSTGRES_PASSWORD": "x"})
    services = document["services"]
    return {name: services[name]["command"] for name in ("migrate", "api", "worker", "scheduler")}


def test_the_compose_api_command_is_the_image_default() -> None:
    # compose repeats it only to make the worker count a variable; with defaults they agree.
    assert compose_commands()["api"] == image_command("CMD")


def test_the_stack_commands_run_here(stack_env: dict[str, str], tmp_path: Path) -> None:
    commands = compose_commands()
    env = stack_env
    base = f"http://127.0.0.1:{env['PORT']}"

    migrated = subprocess.run(
        local(commands["migrate"]), env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "database at revision" in migrated.stdout

    worker_log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        local(commands["worker"]),
        env=env,
        cwd=tmp_path,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server_log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        local(loopback(image_command("CMD") or [])),
        env=env,
        cwd=tmp_path,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def logs() -> str:
        return "\n".join(
            f"--- {name}\n{(tmp_path / name).read_text(errors='replace')[-3000:]}"
            for name in ("server.log", "worker.log")
        )

    try:

        def answers() -> httpx.Response | None:
            assert server.poll() is None, logs()
            try:
                return httpx.get(f"{base}/health", timeout=5)
            except httpx.TransportError:
                return None

        eventually(answers, 120, "the server to answer /health")
        assert len(psutil.Process(server.pid).children()) == 2, logs()

        def probe(command: list[str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                local(command), env=env, cwd=tmp_path, capture_output=True, text=True
            )

        # The image's health check: alive although no catalogue is loaded yet.
        alive = probe(image_healthcheck())
        assert alive.returncode == 0, alive.stdout + alive.stderr
        assert "catalog empty" in alive.stdout
        assert probe([*image_healthcheck(), "--ready"]).returncode == 1

        # The worker's health check, as compose runs it, once the worker is up.
        worker_check = load_compose(COMPOSE)["services"]["worker"]["healthcheck"]["test"][1:]
        eventually(lambda: probe(worker_check).returncode == 0, 90, "the worker to answer")

        # The scheduler, and its health check as compose runs it (its file lives in the test's
        # folder here rather than the container's /tmp).
        def here(command: list[str]) -> list[str]:
            return [str(tmp_path / "beat") if "celerybeat" in a else a for a in command]

        scheduler = subprocess.Popen(
            local(here(commands["scheduler"])),
            env=env,
            cwd=tmp_path,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        scheduler_check = load_compose(COMPOSE)["services"]["scheduler"]["healthcheck"]["test"]
        eventually(lambda: probe(here(scheduler_check[1:])).returncode == 0, 60, "the scheduler")
        os.killpg(scheduler.pid, signal.SIGTERM)
        scheduler.wait(timeout=30)

        # A job goes through Redis to the worker, and the servers pick up its result.
        dump = json.dumps(demo_fixture()["dump"]).encode()
        posted = httpx.post(
            f"{base}/database_dumps",
            content=dump,
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert posted.status_code == 204, posted.text
        task_id = posted.headers["X-Task-Id"]

        def finished() -> dict[str, Any] | None:
            task: dict[str, Any] = httpx.get(f"{base}/tasks/{task_id}", timeout=5).json()
            return task if task["state"] in ("succeeded", "failed") else None

        assert eventually(finished, 120, "the dump job")["state"] == "succeeded", logs()
        worker_log.flush()
        assert task_id in (tmp_path / "worker.log").read_text(errors="replace"), logs()
        # The servers notice the new catalogue by themselves; each request is a new
        # connection, which either process may accept.
        for _ in range(6):
            eventually(
                lambda: httpx.get(f"{base}/health", timeout=5).status_code == 200,
                60,
                "a ready server",
            )
        ready = probe([*image_healthcheck(), "--ready"])
        assert ready.returncode == 0, ready.stdout

        # SIGTERM, as `docker stop` sends it: a clean, graceful exit of every process.
        children = psutil.Process(server.pid).children()
        assert stop(server) == 0, logs()
        assert not any(child.is_running() for child in children)
        assert "Shutting down: Master" in (tmp_path / "server.log").read_text()
    finally:
        stop(server)
        stop(worker, timeout=30)
        worker_log.close()
        server_log.close()
