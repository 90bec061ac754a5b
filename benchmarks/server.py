"""Start and stop a real `recommender serve` process for benchmarks, on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recommender(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "recommender"), *args], env={**os.environ, **env}, check=True)


@contextmanager
def running_server(env: dict[str, str], *extra: str, wait_s: float = 120) -> Iterator[int]:
    """Yields the port of a server that answered /health (any status) and is ready."""
    with serving_process(env, *extra, wait_s=wait_s) as (port, _process):
        yield port


@contextmanager
def serving_process(
    env: dict[str, str], *extra: str, wait_s: float = 120
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`running_server`, also yielding the process (to read its memory)."""
    port = free_port()
    with _serving(
        [str(BIN / "recommender"), "serve", "--port", str(port), *extra], port, env, wait_s
    ) as process:
        yield port, process


@contextmanager
def running_echo(
    workers: int = 1, wait_s: float = 60
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Yields the port and process of `benchmarks.echo` (the bare framework) under uvicorn."""
    port = free_port()
    command = [
        str(BIN / "python"),
        "-m",
        "uvicorn",
        "--factory",
        "benchmarks.echo:create_app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--workers",
        str(workers),
    ]
    with _serving(command, port, {}, wait_s) as process:
        yield port, process


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) a process and its living children have used so far."""
    root = psutil.Process(pid)
    total = 0.0
    for process in (root, *root.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def cpu_seconds_of(names: tuple[str, ...]) -> float:
    """CPU seconds the living processes with these names have used so far (the database and
    Redis servers a benchmark runs against, when they are on the same machine)."""
    total = 0.0
    for process in psutil.process_iter(["name", "cpu_times"]):
        times = process.info["cpu_times"]
        if process.info["name"] in names and times is not None:
            total += times.user + times.system
    return total


@contextmanager
def _serving(
    command: list[str], port: int, env: dict[str, str], wait_s: float
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, env={**os.environ, "LOG_LEVEL": "warning", **env})
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.3)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
