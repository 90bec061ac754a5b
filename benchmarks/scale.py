"""How dump loading and one API process grow with users and services, fitted and projected.

    nice .venv/bin/python -m benchmarks.scale --sizes 1000x10000,1000x100000,10000x100000
    nice .venv/bin/python -m benchmarks.scale --database postgresql --sizes 1000x10000

For each size (SERVICESxUSERS) a generated marketplace (benchmarks/generated.py, users
streamed to the file) is loaded by `recommender load-dump` in a process of its own, whose
wall time and peak resident memory come from the operating system; then `recommender serve`
(one process, the embedded default) is started on that store, timed until it answers
/health, its resident memory read, and a closed loop of `--concurrency` clients sends
POST /recommendations (half anonymous, half logged-in users drawn from all users) for
`--seconds`. With `--user-cache-sizes 0,100000` the same loaded store is served once per
value of `USER_CACHE_SIZE` (0: every user in memory), a row each. SQLite is a fresh file
per size; PostgreSQL a fresh database of this run's own on `--postgres-url`'s server,
dropped at the end.

Each measured figure is then fitted as `fixed + per_user * users + per_service * services`
(least squares over the sizes) and projected to larger marketplaces: the per-user and
per-service costs of docs/scaling.md. `--fit a.json b.json` fits the rows of several runs'
`--out` files together.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.generated import write_dump
from benchmarks.http_load import Request, run_load
from benchmarks.server import serving_process

BIN = Path(sys.executable).parent
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FITTED = ("load_s", "load_peak_mb", "start_s", "api_rss_mb", "api_rss_after_mb")
PROJECTED = ((100_000, 1_000_000), (100_000, 10_000_000))


def timed_child(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak resident MB) of one child process, from the kernel's own accounting."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"{command[1]} failed: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    return seconds, usage.ru_maxrss / 1024


@contextmanager
def database(kind: str, work: Path, tag: str, server: str) -> Iterator[str]:
    """A fresh, empty database URL for one size."""
    if kind == "sqlite":
        yield f"sqlite:///{work / f'{tag}.db'}"
        return
    name = f"scale_bench_{os.getpid()}_{tag}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def recommendation_requests(n_users: int, seed: int) -> Callable[[int], Request]:
    rng = random.Random(seed)

    def next_request(worker: int) -> Request:
        body: dict[str, Any] = {
            "unique_id": f"scale-{worker}-{rng.randrange(1_000_000)}",
            "timestamp": "2026-12-04T10:00:00Z",
            "page_id": "/services",
            "panel_id": "v1",
        }
        if rng.random() < 0.5:
            return ("anonymous", "POST", "/recommendations", body)
        return ("user", "POST", "/recommendations", body | {"user_id": rng.randint(1, n_users)})

    return next_request


def measure(size: str, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """One row per user cache size, all served from the same loaded store."""
    n_services, n_users = (int(v) for v in size.split("x"))
    dump_file = work / f"dump-{size}.json"
    dump_bytes = write_dump(dump_file, n_services, n_users, seed=args.seed)
    loaded: dict[str, Any] = {"services": n_services, "users": n_users}
    loaded["dump_mb"] = round(dump_bytes / 1e6, 1)
    rows = []
    with database(args.database, work, size, args.postgres_url) as url:
        env = {"DATABASE_URL": url, "RATE_LIMIT_PER_S": "0"}
        load_s, peak_mb = timed_child([str(BIN / "recommender"), "load-dump", str(dump_file)], env)
        dump_file.unlink()
        loaded |= {"load_s": round(load_s, 1), "load_peak_mb": round(peak_mb)}
        for cache_size in args.user_cache_sizes:
            served = serve({**env, "USER_CACHE_SIZE": str(cache_size)}, n_users, args)
            rows.append(loaded | {"user_cache_size": cache_size} | served)
    return rows


def serve(env: dict[str, str], n_users: int, args: argparse.Namespace) -> dict[str, Any]:
    """Start-up time, memory and latency of one API process on an already loaded store."""
    row: dict[str, Any] = {}
    started = time.perf_counter()
    with serving_process(env, wait_s=1800) as (port, process):
        row["start_s"] = round(time.perf_counter() - started, 1)
        api = psutil.Process(process.pid)
        row["api_rss_mb"] = round(api.memory_info().rss / 2**20)
        requests = recommendation_requests(n_users, args.seed)
        asyncio.run(
            run_load("127.0.0.1", port, requests, concurrency=args.concurrency, duration_s=2)
        )
        result = asyncio.run(
            run_load(
                "127.0.0.1",
                port,
                requests,
                concurrency=args.concurrency,
                duration_s=args.seconds,
            )
        )
        row["api_rss_after_mb"] = round(api.memory_info().rss / 2**20)
        row["api_peak_mb"] = peak_rss_mb(process.pid)
    latencies = np.asarray([v for values in result.latencies_ms.values() for v in values])
    return row | {
        "requests": int(latencies.shape[0]),
        "errors": result.errors,
        "statuses": {k: dict(v) for k, v in result.statuses.items()},
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p99_ms": round(float(np.percentile(latencies, 99)), 1),
    }


def peak_rss_mb(pid: int) -> int | None:
    """The largest resident size the process ever had (start-up included), from the kernel."""
    found = status_mb(pid, "VmHWM")
    return None if found is None else round(found)


def status_mb(pid: int, field: str) -> float | None:
    """A size line of the kernel's view of a process (VmRSS now, VmHWM its peak), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def fit(rows: list[dict[str, Any]], metric: str) -> tuple[float, float, float] | None:
    """(fixed, per user, per service) by least squares; None when the sizes cannot tell."""
    design = np.asarray([[1.0, r["users"], r["services"]] for r in rows])
    if np.linalg.matrix_rank(design) < 3:
        return None
    values = np.asarray([float(r[metric]) for r in rows])
    coefficients, *_ = np.linalg.lstsq(design, values, rcond=None)
    fixed, per_user, per_service = (float(c) for c in coefficients)
    return fixed, per_user, per_service


def report(rows: list[dict[str, Any]]) -> dict[str, Any]:
    print(
        f"{'services':>9} {'users':>9} {'cache':>7} {'dump MB':>8} {'load s':>7} "
        f"{'load peak MB':>12} "
        f"{'start s':>8} {'API MB':>7} {'API MB after':>12} {'API peak MB':>11} {'p50 ms':>7} "
        f"{'p99 ms':>7} "
        f"{'requests':>8} {'errors':>6}"
    )
    for r in rows:
        print(
            f"{r['services']:>9,} {r['users']:>9,} {r.get('user_cache_size', 0):>7} "
            f"{r['dump_mb']:>8} {r['load_s']:>7} "
            f"{r['load_peak_mb']:>12} {r['start_s']:>8} {r['api_rss_mb']:>7} "
            f"{r['api_rss_after_mb']:>12} {r.get('api_peak_mb') or '-':>11} {r['p50_ms']:>7} "
            f"{r['p99_ms']:>7} "
            f"{r['requests']:>8} {r['errors']:>6}"
        )
    fits: dict[str, Any] = {}
    print("\nfitted: fixed + per 1,000 users + per 1,000 services; projected")
    for metric in FITTED:
        found = fit(rows, metric)
        if found is None:
            print(f"{metric}: the sizes do not vary users and services independently")
            continue
        fixed, per_user, per_service = found
        projections = {
            f"{s}x{u}": round(fixed + per_user * u + per_service * s, 1) for s, u in PROJECTED
        }
        fits[metric] = {
            "fixed": round(fixed, 2),
            "per_1k_users": round(per_user * 1000, 3),
            "per_1k_services": round(per_service * 1000, 3),
            "projected": projections,
        }
        shown = ", ".join(f"{k}: {v:,}" for k, v in projections.items())
        print(
            f"{metric:>16}: {fixed:9.1f} + {per_user * 1000:8.3f}/1k users "
            f"+ {per_service * 1000:8.3f}/1k services -> {shown}"
        )
    return fits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000x10000,1000x100000,10000x10000,10000x100000")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", PG_SERVER),
        help="A server on which this run may create and drop databases of its own.",
    )
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--user-cache-sizes",
        type=lambda value: [int(v) for v in value.split(",")],
        default=[0],
        help="USER_CACHE_SIZE of each API process served per size, comma-separated "
        "(0: every user in memory).",
    )
    parser.add_argument("--out", type=Path, help="Also write the rows and fits as JSON here.")
    parser.add_argument(
        "--fit",
        type=Path,
        nargs="+",
        help="Measure nothing: fit the rows of these --out files together.",
    )
    args = parser.parse_args()
    if args.fit:
        report([row for path in args.fit for row in json.loads(path.read_text())["rows"]])
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            for row in measure(size, args, Path(tmp)):
                rows.append(row)
                print(json.dumps(row), flush=True)
    fits = report(rows)
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "fits": fits}, indent=2))


if __name__ == "__main__":
    main()
