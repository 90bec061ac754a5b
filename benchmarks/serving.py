"""Latency and throughput of POST /recommendations and POST /user_actions on loopback.

    python benchmarks/serving.py --services 1000,10000 --users 10000 --concurrency 50

For each catalogue size: a generated dump is loaded into a fresh SQLite database, a real
server is started (`recommender serve`, the embedded default), and a closed-loop client on
asyncio keeps `--concurrency` requests in flight (80 % recommendations of several kinds, 20 %
user actions). Prints p50/p95/p99 latency and throughput per request kind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
from pathlib import Path
from typing import Any

import orjson

from benchmarks.generated import generate_dump
from benchmarks.http_load import Request, run_load
from benchmarks.server import recommender, running_server


def request_mix(n_services: int, n_users: int, seed: int) -> Any:
    rng = random.Random(seed)
    counter = 0

    def next_request(worker: int) -> Request:
        nonlocal counter
        counter += 1
        base = {
            "unique_id": f"bench-{worker}",
            "timestamp": "2026-11-27T10:00:00Z",
            "visit_id": f"visit-{worker}-{counter}",
            "page_id": "/services",
            "panel_id": rng.choice(["v1", "v2"]),
        }
        roll = rng.random()
        if roll < 0.2:
            service = rng.randint(1, n_services)
            return (
                "user_action",
                "POST",
                "/user_actions",
                {
                    "unique_id": base["unique_id"],
                    "timestamp": base["timestamp"],
                    "user_id": rng.randint(1, n_users),
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
            return (
                "rec_user",
                "POST",
                "/recommendations",
                base | {"user_id": rng.randint(1, n_users)},
            )
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


def bench_size(
    n_services: int, n_users: int, args: argparse.Namespace, work: Path
) -> list[dict[str, Any]]:
    """Load one catalogue, start one server, and drive it at each concurrency in turn."""
    dump_file = work / f"dump-{n_services}-{n_users}.json"
    dump_file.write_bytes(orjson.dumps(generate_dump(n_services, n_users, seed=args.seed)))
    env = {"DATABASE_URL": f"sqlite:///{work / f'bench-{n_services}.db'}"}
    recommender("load-dump", str(dump_file), env=env)
    outcomes = []
    # The rate limiter would answer most of this traffic with 429: it is measured apart.
    with running_server(env | {"RATE_LIMIT_PER_S": "0"}) as port:
        mix = request_mix(n_services, n_users, args.seed)
        for concurrency in (int(c) for c in str(args.concurrency).split(",")):
            asyncio.run(
                run_load("127.0.0.1", port, mix, concurrency=concurrency, duration_s=args.warmup)
            )
            result = asyncio.run(
                run_load("127.0.0.1", port, mix, concurrency=concurrency, duration_s=args.duration)
            )
            result.latencies_ms["recommendations (all)"] = [
                value
                for kind, values in result.latencies_ms.items()
                if kind.startswith("rec")
                for value in values
            ]
            outcomes.append(
                {
                    "services": n_services,
                    "users": n_users,
                    "concurrency": concurrency,
                    "errors": result.errors,
                    "statuses": result.statuses,
                    "latency": result.summary(),
                }
            )
    return outcomes


def print_table(outcome: dict[str, Any]) -> None:
    print(
        f"\n{outcome['services']} services, {outcome['users']} users, "
        f"concurrency {outcome['concurrency']}, connection errors {outcome['errors']}"
    )
    print(f"{'kind':24} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for kind, row in outcome["latency"].items():
        print(
            f"{kind:24} {row['throughput_rps']:>8} {row['p50_ms']:>8} "
            f"{row['p95_ms']:>8} {row['p99_ms']:>8}"
        )
    print("statuses:", dict(outcome["statuses"]))
    refused = {
        kind: codes
        for kind, codes in outcome["statuses"].items()
        if any(int(code) >= 300 for code in codes)
    }
    if refused:
        print("NOT A VALID RUN: answers other than 200/204:", refused)


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
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n_services in (int(s) for s in args.services.split(",")):
            for outcome in bench_size(n_services, args.users, args, Path(tmp)):
                results.append(outcome)
                print_table(outcome)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
