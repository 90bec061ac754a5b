"""A real Celery worker on the real Redis and PostgreSQL, started as a separate process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.api.conftest import SMALL_ENGINES
from tests.conftest import PostgresServer

REDIS_BASE = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
BIN = Path(sys.executable).parent


def redis_url() -> str:
    """A Redis database of its own (1-15), so parallel runs and leftovers do not mix."""
    client = redis.Redis.from_url(REDIS_BASE, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis is not reachable at {REDIS_BASE}: {error}")
    finally:
        client.close()
    number = 1 + uuid.uuid4().int % 15
    url = f"{REDIS_BASE}/{number}"
    redis.Redis.from_url(url).flushdb()
    return url


class Worker:
    """`recommender worker` in its own process group, so SIGKILL takes all of it."""

    def __init__(self, env: dict[str, str], log: Path, args: tuple[str, ...] = ()) -> None:
        self.env = env
        self.log = log
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "recommender"), "worker", "--pool", "solo", *self.args],
            env={**os.environ, **self.env},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while b"ready" not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker did not start:\n" + self.log.read_text())
            time.sleep(0.2)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def stack(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Settings for the API and a running worker sharing PostgreSQL and Redis."""
    env = {
        "DATABASE_URL": postgres_server.new_database(),
        "REDIS_URL": redis_url(),
        "TASK_HEARTBEAT_TIMEOUT_S": "5",
        "REFRESH_INTERVAL_S": "0.5",
        "LOG_LEVEL": "info",
        "ENGINE_PARAMS_FILE": str(SMALL_ENGINES),
    }
    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    try:
        yield {"env": env, "worker": worker, "tmp": tmp_path}
    finally:
        worker.stop()
