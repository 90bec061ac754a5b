"""Mixed traffic at a fixed rate for minutes, then proof that nothing acknowledged was lost.

    python -m benchmarks.load --mode embedded --rate 150 --duration 300
    python -m benchmarks.load --mode postgres --workers 2 --rate 150 --duration 300 --chaos
    python -m benchmarks.load --mode embedded --find-rate   # highest rate with p99 < 50 ms

Open-loop: requests are sent on a fixed schedule (80 % recommendations, 20 % user actions),
whatever the server's speed, and each latency is measured from the moment the request was
due, so a stalled server cannot hide its queue. At the end, every user action answered 204
must be in the database with the content sent, and every recommendation answered 200 must
have its impression. `--chaos` (postgres mode) restarts PostgreSQL once and kills Redis once
during the run; the service must recover by itself and must not have acknowledged a write
it did not store. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from sqlalchemy import create_engine, text

from benchmarks.generated import generate_dump
from benchmarks.server import free_port, recommender

BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = "redis://127.0.0.1:6379/14"


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    acknowledged_actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    served: set[int] = field(default_factory=set)
    transport_errors: int = 0
    late_starts: int = 0


def plan(rate: float, duration: float, seed: int) -> list[tuple[float, str, dict[str, Any]]]:
    """(due time, kind, body) for the whole run, decided up front."""
    rng = random.Random(seed)
    n = int(rate * duration)
    out = []
    for i in range(n):
        due = i / rate
        visit = f"visit-{i}"
        if rng.random() < 0.2:
            service = rng.randint(1, 1000)
            body = {
                "unique_id": f"load-{uuid.UUID(int=rng.getrandbits(128))}",
                "timestamp": "2026-11-27T10:00:00Z",
                "user_id": rng.randint(1, 5000),
                "source": {
                    "visit_id": visit,
                    "page_id": "/services",
                    "root": {
                        "type": "recommendation_panel",
                        "panel_id": "v1",
                        "service_id": service,
                    },
                },
                "target": {"visit_id": f"t-{i}", "page_id": f"/services/{service}"},
                "action": {"type": "button", "text": f"load {i}", "order": rng.random() < 0.05},
            }
            out.append((due, "user_action", body))
        else:
            body = {
                "unique_id": f"load-{i}",
                "timestamp": "2026-11-27T10:00:00Z",
                "visit_id": visit,
                "page_id": "/services",
                "panel_id": rng.choice(["v1", "v2"]),
            }
            roll = rng.random()
            if roll < 0.4:
                body["user_id"] = rng.randint(1, 5000)
            elif roll < 0.8:
                body["search_data"] = {"scientific_domains": [rng.randint(1, 50)]}
            out.append((due, "recommendation", body))
    return out


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, payload: bytes
) -> tuple[int, bytes]:
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        + payload
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length = next(
        (
            int(v)
            for k, _, v in (line.partition(":") for line in lines[1:])
            if k.lower() == "content-length"
        ),
        0,
    )
    return status, (await reader.readexactly(length) if length else b"")


async def drive(
    ports: list[int], schedule: list[tuple[float, str, dict[str, Any]]], connections: int
) -> Tally:
    tally = Tally()
    queue: asyncio.Queue[tuple[float, str, dict[str, Any]] | None] = asyncio.Queue()
    started = time.perf_counter()

    async def feeder() -> None:
        for item in schedule:
            delay = started + item[0] - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait(item)
        for _ in range(connections):
            queue.put_nowait(None)

    async def worker(index: int) -> None:
        port = ports[index % len(ports)]
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while (item := await queue.get()) is not None:
            due, kind, body = item
            path = "/user_actions" if kind == "user_action" else "/recommendations"
            try:
                if connection is None:
                    connection = await asyncio.open_connection("127.0.0.1", port)
                status, answer = await _exchange(*connection, path, orjson.dumps(body))
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                tally.transport_errors += 1
                if connection is not None:
                    connection[1].close()
                connection = None
                continue
            tally.latencies[kind].append((time.perf_counter() - (started + due)) * 1000)
            tally.statuses[kind][status] += 1
            if kind == "user_action" and status == 204:
                tally.acknowledged_actions[body["unique_id"]] = body
            elif kind == "recommendation" and status == 200:
                tally.served.add(int(orjson.loads(answer)["recommendation_id"]))
        if connection is not None:
            connection[1].close()

    await asyncio.gather(feeder(), *(worker(i) for i in range(connections)))
    return tally


def verify(database_url: str, tally: Tally) -> dict[str, Any]:
    """Every acknowledged action stored with its content; every answer with its impression."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT unique_id, user_id, source_visit_id, target_visit_id, action_text, "
                "is_order FROM user_actions WHERE unique_id LIKE 'load-%'"
            )
        ).all()
        impressions = {
            int(r[0])
            for r in conn.execute(
                text("SELECT id FROM recommendations WHERE unique_id LIKE 'load-%'")
            )
        }
    engine.dispose()
    stored = {r[0]: r for r in rows}
    missing = [uid for uid in tally.acknowledged_actions if uid not in stored]
    wrong = [
        uid
        for uid, body in tally.acknowledged_actions.items()
        if uid in stored
        and (
            stored[uid][1] != body["user_id"]
            or stored[uid][2] != body["source"]["visit_id"]
            or stored[uid][3] != body["target"]["visit_id"]
            or stored[uid][4] != body["action"]["text"]
            or bool(stored[uid][5]) != body["action"]["order"]
        )
    ]
    return {
        "actions_acknowledged": len(tally.acknowledged_actions),
        "actions_stored": len(stored),
        "acknowledged_but_missing": len(missing),
        "stored_with_wrong_content": len(wrong),
        "recommendations_answered": len(tally.served),
        "answered_without_impression": len(tally.served - impressions),
    }


def summary(tally: Tally, duration: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    everything = [v for values in tally.latencies.values() for v in values]
    for kind, values in [*tally.latencies.items(), ("all", everything)]:
        arr = np.asarray(values) if values else np.zeros(1)
        out[kind] = {
            "requests": len(values),
            "rate_rps": round(len(values) / duration, 1),
            "p50_ms": round(float(np.percentile(arr, 50)), 2),
            "p99_ms": round(float(np.percentile(arr, 99)), 2),
            "max_ms": round(float(arr.max()), 2),
        }
    out["statuses"] = {kind: dict(counts) for kind, counts in tally.statuses.items()}
    out["transport_errors"] = tally.transport_errors
    return out


class Stack:
    """The service under test: one embedded server, or N gunicorn workers on PostgreSQL."""

    def __init__(self, mode: str, workers: int, work: Path) -> None:
        self.mode = mode
        self.workers = workers
        self.work = work
        self.processes: list[subprocess.Popen[bytes]] = []
        self.database_url = ""
        self.env: dict[str, str] = {}
        self.ports: list[int] = []

    def __enter__(self) -> Stack:
        if self.mode == "embedded":
            self.database_url = f"sqlite:///{self.work / 'load.db'}"
            self.env = {"DATABASE_URL": self.database_url}
        else:
            name = f"recommender_load_{uuid.uuid4().hex[:8]}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            self.database_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
            self.env = {"DATABASE_URL": self.database_url, "REDIS_URL": REDIS}
        self.env |= {"LOG_LEVEL": "warning", "RATE_LIMIT_PER_S": "0"}
        dump = self.work / "dump.json"
        dump.write_bytes(orjson.dumps(generate_dump(1000, 5000, seed=0)))
        recommender("load-dump", str(dump), env=self.env)
        port = free_port()
        command = [str(BIN / "recommender"), "serve", "--port", str(port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        self.processes.append(
            subprocess.Popen(command, env={**os.environ, **self.env}, stderr=subprocess.DEVNULL)
        )
        self.ports = [port]
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code in (
                    200,
                    503,
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def chaos(duration: float) -> list[str]:
    """Restart PostgreSQL a fifth of the way in; kill Redis half way, back 10 s later."""
    events = []
    time.sleep(duration * 0.2)
    version = subprocess.run(
        ["ls", "/etc/postgresql"], capture_output=True, text=True
    ).stdout.split()[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True
    )
    events.append(f"{time.strftime('%H:%M:%S')} PostgreSQL restarted")
    time.sleep(duration * 0.3)
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], check=False)
    events.append(f"{time.strftime('%H:%M:%S')} Redis killed")
    time.sleep(10)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    events.append(f"{time.strftime('%H:%M:%S')} Redis started again")
    return events


def run(args: argparse.Namespace, rate: float, duration: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, Stack(args.mode, args.workers, Path(tmp)) as stack:
        schedule = plan(rate, duration, args.seed)
        events: list[str] = []
        if args.chaos:
            import threading

            thread = threading.Thread(target=lambda: events.extend(chaos(duration)))
            thread.start()
        tally = asyncio.run(drive(stack.ports, schedule, args.connections))
        if args.chaos:
            thread.join()
        time.sleep(1)
        return {
            "mode": args.mode,
            "workers": args.workers,
            "target_rate_rps": rate,
            "duration_s": duration,
            "latency": summary(tally, duration),
            "checks": verify(stack.database_url, tally),
            "chaos": events,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["embedded", "postgres"], default="embedded")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--chaos", action="store_true")
    parser.add_argument("--find-rate", action="store_true", help="step up the rate, 30 s each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.find_rate:
        results = []
        for rate in (50, 100, 150, 200, 300, 400, 500):
            outcome = run(args, rate, 30)
            results.append(outcome)
            p99 = outcome["latency"]["all"]["p99_ms"]
            print(f"rate {rate}/s: p99 {p99} ms, statuses {outcome['latency']['statuses']}")
            if p99 > 50:
                break
    else:
        results = [run(args, args.rate, args.duration)]
        print(json.dumps(results[0], indent=2))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
