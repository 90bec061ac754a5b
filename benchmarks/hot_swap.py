"""How fast a newly activated model serves, and what a swap costs requests in flight.

    python -m benchmarks.hot_swap --swaps 10 --concurrency 8

A real server (embedded default, REFRESH_INTERVAL_S as configured, default 2 s) is loaded
with a generated catalogue and two trained versions of `ease`. Under steady traffic of
logged-in users asking for `ease`, versions are activated back and forth from outside the
server process (as the CLI or another replica does), so the server learns of each swap
by polling, the slowest path.
Reported: seconds from each activation's answer to the first impression served by the new
version (read from the impression log), and latency of requests in the 3 s after each
activation against all other requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from benchmarks.generated import generate_dump
from benchmarks.server import recommender, running_server
from recommender.registry import versions
from recommender.store.database import Database


def _epoch(created: Any) -> float:
    # SQLite hands the stored UTC time back as naive text.
    moment = datetime.fromisoformat(created) if isinstance(created, str) else created
    return float(
        moment.replace(tzinfo=UTC).timestamp() if moment.tzinfo is None else moment.timestamp()
    )


def activate_elsewhere(url: str, version: int) -> float:
    """Activate from another process's point of view (as `recommender models activate` or
    another API replica would): the server learns of it only by polling the store.
    Returns the moment the activation was committed."""
    db = Database(url, pool_size=1)
    try:
        with db.write() as conn, Session(bind=conn) as session:
            versions.activate(session, "ease", version)
            session.flush()
        return time.time()
    finally:
        db.dispose()


def traffic(
    stop: threading.Event,
    port: int,
    concurrency: int,
    log: list[tuple[float, float]],
    failures: list[int],
) -> None:
    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            while not stop.is_set():
                body = {
                    "unique_id": "swap",
                    "timestamp": "2026-11-27T10:00:00Z",
                    "page_id": "/services",
                    "user_id": rng.randint(1, 5000),
                    "engine_version": "ease",
                }
                began = time.time()
                response = await client.post("/recommendations", json=body)
                if response.status_code == 200:
                    log.append((began, (time.time() - began) * 1000))
                else:
                    failures.append(response.status_code)

    async def everything() -> None:
        await asyncio.gather(*(worker(i) for i in range(concurrency)))

    asyncio.run(everything())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--swaps", type=int, default=10)
    parser.add_argument("--interval", type=float, default=6.0, help="seconds between swaps")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'swap.db'}"
        env = {"DATABASE_URL": url, "RATE_LIMIT_PER_S": "0"}
        dump = Path(tmp) / "dump.json"
        dump.write_bytes(orjson.dumps(generate_dump(1000, 5000, seed=0)))
        recommender("load-dump", str(dump), env=env)
        for _ in range(2):  # two versions to swap between
            recommender("train", "ease", env=env)
        with running_server(env) as port:
            stop = threading.Event()
            log: list[tuple[float, float]] = []
            failures: list[int] = []
            driver = threading.Thread(
                target=traffic, args=(stop, port, args.concurrency, log, failures)
            )
            driver.start()
            time.sleep(args.interval)
            activations = []
            for index in range(args.swaps):
                version = 1 if index % 2 == 0 else 2
                activations.append((activate_elsewhere(url, version), version))
                time.sleep(args.interval)
            stop.set()
            driver.join()
        engine = create_engine(url)
        with engine.connect() as conn:
            served = conn.execute(
                text(
                    "SELECT created_at, model_version FROM recommendations "
                    "WHERE engine = 'ease' ORDER BY id"
                )
            ).all()
        engine.dispose()
    moments = [(_epoch(created), version) for created, version in served]
    delays = []
    for activated_at, version in activations:
        first = next((t for t, v in moments if t >= activated_at and v == version), None)
        if first is not None:
            delays.append(first - activated_at)
    near = [ms for began, ms in log if any(0 <= began - at <= 3 for at, _ in activations)]
    rest = [ms for began, ms in log if not any(0 <= began - at <= 3 for at, _ in activations)]
    result = {
        "swaps": len(activations),
        "activation_to_first_served_s": {
            "median": round(float(np.median(delays)), 2),
            "max": round(float(np.max(delays)), 2),
        },
        "latency_ms_within_3s_of_a_swap": {
            "requests": len(near),
            "p50": round(float(np.percentile(near, 50)), 2),
            "p99": round(float(np.percentile(near, 99)), 2),
        },
        "latency_ms_at_rest": {
            "requests": len(rest),
            "p50": round(float(np.percentile(rest, 50)), 2),
            "p99": round(float(np.percentile(rest, 99)), 2),
        },
        "failed_requests": len(failures),
        "refresh_interval_s": float(os.environ.get("REFRESH_INTERVAL_S", "2.0")),
    }
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
