"""Latency and throughput of POST /recommendations and POST /user_actions on loopback.

    python benchmarks/serving.py --services 1000,10000 --users 10000 --concurrency 50
    python benchmarks/serving.py --services 10000 --online --rounds 3
    python benchmarks/serving.py --services 10000 --online --rounds 3 --visitors 1000
    python -m benchmarks.serving --services 10000 --concurrency 1,50 --workers 1,2,4 --echo \
        --redis-url redis://127.0.0.1:6379/13

With `--echo`, a bare FastAPI app that parses the same bodies (`benchmarks/echo.py`) is
driven first with the same client, concurrencies and worker counts, and a last table gives
the service's throughput as a share of the echo's. After the service's runs, the impressions
and user actions in the store are counted against the 200 and 204 answers sent.

For each catalogue size: a generated dump is loaded into a fresh SQLite database, a real
server is started (`recommender serve`, the embedded default), and a closed-loop client on
asyncio keeps `--concurrency` requests in flight (80 % recommendations of several kinds, 20 %
user actions). Prints p50/p95/p99 latency and throughput per request kind.

With `--online`, the same load runs on two variants in alternating rounds, each on a server
of its own over the same store: sessions off and no experiment, then sessions on and an
experiment on both panels whose two arms are both popularity (so what differs is the session
reads and writes, the assignment and the recorded arm, not the engine). It prints each
variant's median over rounds and the ratios: of throughput, and of answers per CPU second
of the server's processes, which moves less when other work shares the machine.

By default each connection is one browser whose logged-in requests name random users, so
every session is full and a user's events come from other browsers: the worst case for
sessions. `--visitors N` draws each request from a pool of N visitors instead, half of them
logged in as a user of their own, as a portal's visitors are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from benchmarks.generated import generate_dump
from benchmarks.http_load import LoadResult, Request, run_load
from benchmarks.server import (
    cpu_seconds,
    cpu_seconds_of,
    recommender,
    running_echo,
    serving_process,
)
from recommender.store.schema import ModelVersion, Recommendation, UserAction


def request_mix(n_services: int, n_users: int, seed: int, visitors: int = 0) -> Any:
    """Request bodies, drawn in the same proportions whoever sends them.

    With `visitors` 0, each connection is one browser and every logged-in request or action
    names a random user: each browser's session fills up at once, with actions of users who
    are not the one asking (the worst case for sessions). With a pool of `visitors`, each
    request comes from one of them: every other one is logged in as a user of their own,
    whose requests and actions name that user; anonymous requests come from the others."""
    rng = random.Random(seed)
    counter = 0

    def identity(worker: int, logged_in: bool) -> tuple[str, int | None]:
        if visitors <= 0:
            return f"bench-{worker}", rng.randint(1, n_users) if logged_in else None
        # Even visitors are logged in, odd ones anonymous.
        visitor = 2 * rng.randrange(max(visitors // 2, 1)) + (0 if logged_in else 1)
        return f"visitor-{visitor}", 1 + (visitor * 7919) % n_users if logged_in else None

    def next_request(worker: int) -> Request:
        nonlocal counter
        counter += 1
        roll = rng.random()
        # In a pool, half the actions are anonymous; without one, every action names a user.
        is_action = roll < 0.2
        logged_in = (visitors <= 0 or rng.random() < 0.5) if is_action else 0.4 <= roll < 0.65
        unique_id, user_id = identity(worker, logged_in)
        base = {
            "unique_id": unique_id,
            "timestamp": "2026-11-27T10:00:00Z",
            "visit_id": f"visit-{worker}-{counter}",
            "page_id": "/services",
            "panel_id": rng.choice(["v1", "v2"]),
        }
        if is_action:
            service = rng.randint(1, n_services)
            return (
                "user_action",
                "POST",
                "/user_actions",
                {
                    "unique_id": base["unique_id"],
                    "timestamp": base["timestamp"],
                    **({} if user_id is None else {"user_id": user_id}),
                    "source": {
                        "visit_id": base["visit_id"],
                        "page_id": "/services",
                        "root": {
                            "type": "recommendation_panel",
                            "panel_id": "v1",
                            "service_id": service,
                        },
                    },
                    "target": {"visit_id": f"t-{counter}", "page_id": f"/services/{service}"},
                    "action": {"type": "button", "text": "", "order": rng.random() < 0.05},
                },
            )
        if roll < 0.4:
            return ("rec_anonymous", "POST", "/recommendations", base)
        if roll < 0.65:
            return ("rec_user", "POST", "/recommendations", base | {"user_id": user_id})
        if roll < 0.9:
            filters = {
                "scientific_domains": [rng.randint(1, 50)],
                "categories": [rng.randint(1, 200), rng.randint(1, 200)],
            }
            return ("rec_filtered", "POST", "/recommendations", base | {"search_data": filters})
        return (
            "rec_search",
            "POST",
            "/recommendations",
            base | {"search_data": {"q": rng.choice(["cloud", "genome data", "gpu"])}},
        )

    return next_request


# Two arms of the same engine: an experiment's cost without an engine's.
SAME_ENGINE_EXPERIMENT = {
    "name": "serving-cost",
    "panels": ["v1", "v2"],
    "arms": [
        {"name": "a", "engine": "popularity", "weight": 1},
        {"name": "b", "engine": "popularity", "weight": 1},
    ],
}
VARIANTS: dict[str, dict[str, str]] = {
    "sessions off, no experiment": {"SESSIONS": "false"},
    "sessions on, experiment": {"SESSIONS": "true"},
}


def fresh_database(args: argparse.Namespace, work: Path, n_services: int) -> str:
    """A new SQLite file, or a new database on the PostgreSQL server of `--postgres`."""
    if not args.postgres:
        return f"sqlite:///{work / f'bench-{n_services}.db'}"
    name = f"recommender_serving_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(args.postgres).rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def loaded_store(
    n_services: int, n_users: int, args: argparse.Namespace, work: Path
) -> Iterator[dict[str, str]]:
    """The environment of a service on a fresh store holding a generated catalogue; a database
    made on `--postgres`'s server is dropped afterwards (a SQLite file goes with `work`)."""
    dump_file = work / f"dump-{n_services}-{n_users}.json"
    dump_file.write_bytes(orjson.dumps(generate_dump(n_services, n_users, seed=args.seed)))
    env = {"DATABASE_URL": fresh_database(args, work, n_services)}
    try:
        recommender("load-dump", str(dump_file), env=env)
        yield env
    finally:
        if args.postgres:
            admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            name = make_url(env["DATABASE_URL"]).database
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def experiment(port: int, *, running: bool, tag: int) -> None:
    """Stop whatever experiment runs, and start a fresh one when `running`."""
    base = f"http://127.0.0.1:{port}"
    for found in httpx.get(f"{base}/experiments").json()["experiments"]:
        if found["status"] == "running":
            httpx.post(f"{base}/experiments/{found['id']}/stop").raise_for_status()
    if running:
        body = dict(SAME_ENGINE_EXPERIMENT, name=f"serving-cost-{tag}")
        httpx.post(f"{base}/experiments", json=body).raise_for_status()


def bench_online(
    n_services: int, n_users: int, args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    """Alternate the two variants' servers over the same store; medians per variant."""
    with loaded_store(n_services, n_users, args, work) as env:
        runs = run_online(n_services, n_users, args, env | {"RATE_LIMIT_PER_S": "0"})
    medians = {
        name: {key: float(np.median([r[key] for r in rows])) for key in rows[0]}
        for name, rows in runs.items()
    }
    plain, online = (medians[name] for name in VARIANTS)
    return {
        "services": n_services,
        "users": n_users,
        "concurrency": int(str(args.concurrency).split(",")[0]),
        "rounds": runs,
        "medians": medians,
        "throughput_ratio": online["throughput_rps"] / plain["throughput_rps"],
        "p50_ratio": online["p50_ms"] / plain["p50_ms"],
        # Answers per CPU second, with over without: steadier than requests per second
        # when other work shares the machine.
        "cpu_ratio": plain["server_cpu_us_per_answer"] / online["server_cpu_us_per_answer"],
    }


def run_online(
    n_services: int, n_users: int, args: argparse.Namespace, env: dict[str, str]
) -> dict[str, list[dict[str, float]]]:
    """Each variant's figures, round by round."""
    concurrency = int(str(args.concurrency).split(",")[0])
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for round_index in range(args.rounds):
        names = list(VARIANTS) if round_index % 2 == 0 else list(reversed(VARIANTS))
        for name in names:
            with serving_process(env | VARIANTS[name]) as (port, process):
                experiment(port, running=VARIANTS[name]["SESSIONS"] == "true", tag=round_index)
                mix = request_mix(n_services, n_users, args.seed, args.visitors)
                result, _, cpu = drive(port, process.pid, mix, concurrency, args, Counter())
            recs = result.latencies_ms["recommendations (all)"]
            runs[name].append(
                {
                    "throughput_rps": len(recs) / result.duration_s,
                    "p50_ms": float(np.percentile(recs, 50)),
                    "p99_ms": float(np.percentile(recs, 99)),
                    "server_cpu_us_per_answer": cpu["server_us"],
                    "bad_statuses": sum(
                        n
                        for codes in result.statuses.values()
                        for c, n in codes.items()
                        if int(c) >= 300
                    ),
                }
            )
    return runs


# The database and Redis servers, whose CPU a request also costs when they run here.
STORE_PROCESSES = ("postgres", "redis-server")


def drive(
    port: int,
    pid: int,
    mix: Any,
    concurrency: int,
    args: argparse.Namespace,
    answered: Counter[int],
) -> tuple[LoadResult, Counter[int], dict[str, float]]:
    """A warm-up, then the measured run; `answered` counts every status, warm-up included.
    Also the CPU microseconds per answer of the measured run: the server's processes (`pid`
    and its children), and the database and Redis servers'. Unlike requests per second on a
    shared machine, a process's own CPU time per answer moves little with the neighbours."""
    warm = asyncio.run(
        run_load("127.0.0.1", port, mix, concurrency=concurrency, duration_s=args.warmup)
    )
    server_s, stores_s = cpu_seconds(pid), cpu_seconds_of(STORE_PROCESSES)
    result = asyncio.run(
        run_load("127.0.0.1", port, mix, concurrency=concurrency, duration_s=args.duration)
    )
    server_s, stores_s = cpu_seconds(pid) - server_s, cpu_seconds_of(STORE_PROCESSES) - stores_s
    answers = max(sum(sum(codes.values()) for codes in result.statuses.values()), 1)
    cpu = {"server_us": 1e6 * server_s / answers, "stores_us": 1e6 * stores_s / answers}
    for run in (warm, result):
        for codes in run.statuses.values():
            answered.update(codes)
    result.latencies_ms["recommendations (all)"] = [
        value
        for kind, values in result.latencies_ms.items()
        if kind.startswith("rec")
        for value in values
    ]
    return result, answered, cpu


def outcome_of(
    server: str,
    n_services: int,
    n_users: int,
    concurrency: int,
    result: LoadResult,
    cpu: dict[str, float],
) -> dict[str, Any]:
    return {
        "server": server,
        "cpu_us_per_answer": {key: round(value, 1) for key, value in cpu.items()},
        "services": n_services,
        "users": n_users,
        "concurrency": concurrency,
        "errors": result.errors,
        "statuses": result.statuses,
        "latency": result.summary(),
    }


def train_to_serve(engine_name: str, env: dict[str, str]) -> None:
    """Train `engine_name` on the store and make the new version serve, whether or not it
    passed the quality gate: what is measured is the cost of serving it, not its quality."""
    recommender("train", engine_name, env=env)
    engine = create_engine(env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            version = conn.execute(
                select(func.max(ModelVersion.version)).where(ModelVersion.engine == engine_name)
            ).scalar_one()
    finally:
        engine.dispose()
    recommender("models", "activate", engine_name, str(version), env=env)


def engines_answering(database_url: str) -> dict[str, int]:
    """How many stored impressions each engine served."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Recommendation.engine, func.count()).group_by(Recommendation.engine)
            )
            return {str(name): int(count) for name, count in rows}
    finally:
        engine.dispose()


def stored_counts(database_url: str) -> tuple[int, int]:
    """(impressions, user actions) in the store."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            shown = conn.execute(select(func.count()).select_from(Recommendation)).scalar_one()
            acted = conn.execute(select(func.count()).select_from(UserAction)).scalar_one()
    finally:
        engine.dispose()
    return int(shown), int(acted)


def bench_echo(n_services: int, n_users: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The bare framework (`benchmarks.echo`) under the same load, for comparison."""
    outcomes = []
    for workers in (int(w) for w in str(args.workers).split(",")):
        with running_echo(workers) as (port, process):
            mix = request_mix(n_services, n_users, args.seed, args.visitors)
            for concurrency in (int(c) for c in str(args.concurrency).split(",")):
                result, _, cpu = drive(port, process.pid, mix, concurrency, args, Counter())
                outcomes.append(
                    outcome_of(f"echo x{workers}", n_services, n_users, concurrency, result, cpu)
                )
    return outcomes


def bench_size(
    n_services: int, n_users: int, args: argparse.Namespace, work: Path
) -> list[dict[str, Any]]:
    """Load one catalogue, then for each worker count start the service and drive it at each
    concurrency in turn; afterwards every 200 must have its impression and every 204 its
    stored action."""
    with loaded_store(n_services, n_users, args, work) as env:
        return bench_workers(n_services, n_users, args, env)


def bench_workers(
    n_services: int, n_users: int, args: argparse.Namespace, env: dict[str, str]
) -> list[dict[str, Any]]:
    """`bench_size` on a loaded store."""
    if args.train:
        train_to_serve(args.train, env)
    # The rate limiter would answer most of this traffic with 429: it is measured apart.
    env |= {"RATE_LIMIT_PER_S": "0", "DEFAULT_ENGINE": args.engine}
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    outcomes = []
    answered: Counter[int] = Counter()
    for workers in (int(w) for w in str(args.workers).split(",")):
        extra = ("--workers", str(workers)) if workers > 1 else ()
        with serving_process(env, *extra) as (port, process):
            mix = request_mix(n_services, n_users, args.seed, args.visitors)
            for concurrency in (int(c) for c in str(args.concurrency).split(",")):
                result, answered, cpu = drive(port, process.pid, mix, concurrency, args, answered)
                outcomes.append(
                    outcome_of(f"service x{workers}", n_services, n_users, concurrency, result, cpu)
                )
    shown, acted = stored_counts(env["DATABASE_URL"])
    durability = {
        "answered_200": answered[200],
        "impressions_stored": shown,
        "answered_204": answered[204],
        "actions_stored": acted,
    }
    print("\ndurability:", durability)
    print("impressions by engine:", engines_answering(env["DATABASE_URL"]))
    if shown < answered[200] or acted < answered[204]:
        print("NOT DURABLE: answers without their stored rows")
    outcomes.append({"services": n_services, "durability": durability})
    return outcomes


def print_table(outcome: dict[str, Any]) -> None:
    if "durability" in outcome:
        return
    print(
        f"\n{outcome['server']}: {outcome['services']} services, {outcome['users']} users, "
        f"concurrency {outcome['concurrency']}, connection errors {outcome['errors']}"
    )
    print(f"{'kind':24} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for kind, row in outcome["latency"].items():
        print(
            f"{kind:24} {row['throughput_rps']:>8} {row['p50_ms']:>8} "
            f"{row['p95_ms']:>8} {row['p99_ms']:>8}"
        )
    print("statuses:", dict(outcome["statuses"]))
    cpu = outcome["cpu_us_per_answer"]
    print(
        f"CPU us per answer: server {cpu['server_us']}, "
        f"database and Redis servers {cpu['stores_us']}"
    )
    refused = {
        kind: codes
        for kind, codes in outcome["statuses"].items()
        if any(int(code) >= 300 for code in codes)
    }
    if refused:
        print("NOT A VALID RUN: answers other than 200/204:", refused)


def print_ratios(results: list[dict[str, Any]]) -> None:
    """Service against echo, at the same size, workers and concurrency."""
    echo = {
        (r["services"], r["server"].split()[-1], r["concurrency"]): r
        for r in results
        if r.get("server", "").startswith("echo")
    }
    print(
        f"\n{'services':>8} {'workers':>7} {'in flight':>9} {'rec/s':>8} {'echo/s':>8} "
        f"{'ratio':>6} {'p50 ms':>7} {'echo p50':>8} {'p99 ms':>7} "
        f"{'cpu us':>7} {'+stores':>7} {'echo cpu':>8}"
    )
    for r in results:
        if not r.get("server", "").startswith("service"):
            continue
        workers = r["server"].split()[-1]
        base = echo.get((r["services"], workers, r["concurrency"]))
        if base is None:
            continue
        mine = r["latency"]["recommendations (all)"]
        theirs = base["latency"]["recommendations (all)"]
        print(
            f"{r['services']:>8} {workers:>7} {r['concurrency']:>9} "
            f"{mine['throughput_rps']:>8} {theirs['throughput_rps']:>8} "
            f"{mine['throughput_rps'] / max(theirs['throughput_rps'], 1e-9):>6.2f} "
            f"{mine['p50_ms']:>7} {theirs['p50_ms']:>8} {mine['p99_ms']:>7} "
            f"{r['cpu_us_per_answer']['server_us']:>7.0f} "
            f"{r['cpu_us_per_answer']['stores_us']:>7.0f} "
            f"{base['cpu_us_per_answer']['server_us']:>8.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", default="1000,10000")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--concurrency", default="50", help="one or several, comma-separated")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--online", action="store_true", help="compare sessions + experiment with neither"
    )
    parser.add_argument("--rounds", type=int, default=3, help="with --online: rounds per variant")
    parser.add_argument(
        "--visitors",
        type=int,
        default=0,
        help="draw requests from a pool of this many visitors, half of them logged in "
        "(0: one browser per connection, each logged-in request a random user)",
    )
    parser.add_argument(
        "--workers", default="1", help="server processes, one or several comma-separated"
    )
    parser.add_argument(
        "--echo", action="store_true", help="also drive a bare FastAPI echo of the same bodies"
    )
    parser.add_argument("--engine", default="popularity", help="DEFAULT_ENGINE of the service")
    parser.add_argument("--train", help="train this engine after loading the dump; it serves")
    parser.add_argument(
        "--postgres", help="admin URL of a PostgreSQL server: each run gets a new database"
    )
    parser.add_argument("--redis-url", help="REDIS_URL of the service (needed by --workers > 1)")
    args = parser.parse_args()
    results = []
    if args.online:
        with tempfile.TemporaryDirectory() as tmp:
            for n_services in (int(s) for s in args.services.split(",")):
                outcome = bench_online(n_services, args.users, args, Path(tmp))
                results.append(outcome)
                print(
                    f"\n{n_services} services, {args.users} users, concurrency "
                    f"{outcome['concurrency']}, visitors {args.visitors or 'one per connection'}, "
                    f"median of {args.rounds} rounds (recommendations)"
                )
                for name, row in outcome["medians"].items():
                    print(
                        f"{name:32} {row['throughput_rps']:8.1f} req/s  p50 {row['p50_ms']:6.2f} "
                        f"ms  p99 {row['p99_ms']:6.2f} ms  non-2xx {row['bad_statuses']:.0f}  "
                        f"server CPU {row['server_cpu_us_per_answer']:.0f} us per answer"
                    )
                print(
                    f"throughput ratio {outcome['throughput_ratio']:.3f}, "
                    f"p50 ratio {outcome['p50_ratio']:.3f}, "
                    f"answers per CPU second ratio {outcome['cpu_ratio']:.3f}"
                )
        if args.output:
            args.output.write_text(json.dumps(results, indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for n_services in (int(s) for s in args.services.split(",")):
            if args.echo:
                for outcome in bench_echo(n_services, args.users, args):
                    results.append(outcome)
                    print_table(outcome)
            for outcome in bench_size(n_services, args.users, args, Path(tmp)):
                results.append(outcome)
                print_table(outcome)
    if args.echo:
        print_ratios(results)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
