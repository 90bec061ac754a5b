"""Serving from several processes: gunicorn's configuration and its metric hooks, then a real
`recommender serve --workers 2` that answers, replaces a killed worker, counts requests over
every worker, and stops when asked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from recommender.api.multiprocess import (
    WORKER_CLASS,
    GunicornServer,
    _child_exit,
    _on_starting,
    bind_address,
    gunicorn_options,
)
from tests.api.conftest import SMALL_ENGINES
from tests.factories import recommendation_request
from tests.integration.conftest import redis_url
from tests.test_quickstart import free_port

BIN = Path(sys.executable).parent


def options(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "host": "0.0.0.0",
        "port": 8000,
        "workers": 3,
        "graceful_timeout": 25,
        "log_level": "warning",
    }
    values.update(overrides)
    return gunicorn_options(**values)


def test_bind_address_brackets_ipv6() -> None:
    assert bind_address("0.0.0.0", 8000) == "0.0.0.0:8000"
    assert bind_address("::", 9000) == "[::]:9000"
    assert bind_address("::1", 80) == "[::1]:80"


def test_gunicorn_accepts_the_configuration() -> None:
    # gunicorn validates every value (hooks by their arity) when it is set.
    server = GunicornServer(options())
    cfg = server.cfg
    assert cfg.bind == ["0.0.0.0:8000"]
    assert cfg.workers == 3
    assert cfg.worker_class_str == WORKER_CLASS
    assert cfg.graceful_timeout == 25
    assert cfg.loglevel == "warning"
    assert cfg.control_socket_disable is True


def test_the_worker_class_is_importable() -> None:
    module, _, name = WORKER_CLASS.rpartition(".")
    worker = getattr(__import__(module, fromlist=[name]), name)
    assert worker.__name__ == name


def metric_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_prometheus_hooks_leave_files_alone_unless_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "counter_123.db").write_bytes(b"kept")
    (tmp_path / "gauge_livesum_123.db").write_bytes(b"kept")
    _on_starting(None)
    _child_exit(None, type("Worker", (), {"pid": 123})())
    assert metric_files(tmp_path) == ["counter_123.db", "gauge_livesum_123.db"]


def test_prometheus_files_of_a_previous_run_are_removed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"old")
    (folder / "gauge_livesum_123.db").write_bytes(b"old")
    (folder / "keep.txt").write_text("not a metric file")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    _on_starting(None)
    assert metric_files(folder) == ["keep.txt"]


def test_a_dead_workers_live_gauges_stop_counting_and_its_counters_stay(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name in ("counter_77.db", "gauge_livesum_77.db", "gauge_liveall_77.db", "counter_78.db"):
        (tmp_path / name).write_bytes(b"")
    _child_exit(None, type("Worker", (), {"pid": 77})())
    assert metric_files(tmp_path) == ["counter_77.db", "counter_78.db"]


# --- a real server with two worker processes ------------------------------------------------


@dataclass
class Server:
    base: str
    master: psutil.Process
    process: subprocess.Popen[bytes]
    log: Path

    def workers(self) -> set[int]:
        return {child.pid for child in self.master.children() if child.is_running()}

    def wait_for_workers(self, count: int, other_than: Collection[int] = ()) -> set[int]:
        deadline = time.monotonic() + 60
        while True:
            pids = self.workers()
            if len(pids) == count and not pids & set(other_than):
                return pids
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"workers {pids}:\n{self.log.read_text()}"
            time.sleep(0.2)

    def recommend(self, n: int) -> None:
        for k in range(n):
            # A connection each, as separate visitors would open.
            answer = httpx.post(
                f"{self.base}/recommendations",
                json=recommendation_request(unique_id=f"browser-{k}"),
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            assert len(answer.json()["recommendations"]) == 3

    def panels_counted(self) -> set[float]:
        """The panels /metrics reports, asked a few times over new connections: every worker
        must report the same total."""
        return {self._panels_counted() for _ in range(6)}

    def _panels_counted(self) -> float:
        text = httpx.get(f"{self.base}/metrics", timeout=10).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "recommender_recommendations"
            for sample in family.samples
            if sample.name == "recommender_recommendations_total"
        )


def run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    metrics = tmp_path / "metrics"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "REDIS_URL": redis_url(),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "ENGINE_PARAMS_FILE": str(SMALL_ENGINES),
        "LOG_LEVEL": "warning",
    }
    run([str(BIN / "recommender"), "demo"], env)
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [str(BIN / "recommender"), "serve", "--workers", "2", "--port", str(port)],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = Server(f"http://127.0.0.1:{port}", psutil.Process(process.pid), process, log)
    try:
        started.wait_for_workers(2)
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{started.base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the server did not answer within a minute"
                time.sleep(0.3)
        yield started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.redis
def test_two_workers_serve_count_together_and_survive_a_crash(server: Server) -> None:
    first = server.wait_for_workers(2)
    server.recommend(12)
    # Whichever worker answers /metrics reports the panels of both.
    assert server.panels_counted() == {12}

    crashed = min(first)
    os.kill(crashed, signal.SIGKILL)
    now = server.wait_for_workers(2, other_than={crashed})
    assert len(now & first) == 1  # one survivor, one replacement
    server.recommend(5)
    # The crashed worker's panels are still counted, beside the replacement's.
    assert server.panels_counted() == {17}

    server.master.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
    assert not any(psutil.pid_exists(pid) for pid in now)
