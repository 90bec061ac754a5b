"""CPU time of the two hot routes' own work, in one process, without HTTP.

    .venv/bin/python -m benchmarks.route_cost
    .venv/bin/python -m benchmarks.route_cost --services 10000 --requests 4000 --rounds 7

A generated dump is loaded into a fresh SQLite database and a serving runtime is started on
it, as `recommender serve` starts one (sessions in the process, the store writer's thread).
The request bodies of `benchmarks.serving` (the same mix of anonymous, logged-in, filtered
and text-search panels and user actions) are validated once, then handed to the routes'
functions (`recommend`, `record`), `--in-flight` at a time on one event loop, with every
impression and action committed by the writer as over HTTP. Prints, per round, the CPU time
of the whole process (the loop, the writer and everything else) and of the loop's thread
alone, per request, and the medians over `--rounds`.

What HTTP adds (parsing, the server, the framework) is left out: this is the part of a
request's cost that the service's own code decides, with much less noise than requests per
second on a shared machine. With `--sessions false` the visitors' sessions are off.

With `--postgres URL` the store is a new database on that server, and with `--redis-url` the
sessions are in Redis, as with several workers; each round then also prints the CPU the
database and Redis servers spent per request (when they run on this machine).

    .venv/bin/python -m benchmarks.route_cost --postgres \
        postgresql+psycopg://postgres@127.0.0.1:5432/test --redis-url redis://127.0.0.1:6379/14

With `--train ease --engine ease` a learned engine is trained on the store first and serves.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.server import cpu_seconds_of
from benchmarks.serving import STORE_PROCESSES, loaded_store, request_mix, train_to_serve
from recommender.api.routes.recommendations import recommend
from recommender.api.routes.user_actions import record
from recommender.config import Settings
from recommender.contract.recommendations import RecommendationRequest
from recommender.contract.user_actions import UserActionIn
from recommender.runtime import Runtime


def bodies(n_services: int, n_users: int, count: int, in_flight: int, seed: int) -> list[Any]:
    """`count` validated bodies, each connection of `benchmarks.serving` taking its turn."""
    next_request = request_mix(n_services, n_users, seed)
    out: list[Any] = []
    for number in range(count):
        _, _, path, body = next_request(number % in_flight)
        model = UserActionIn if path == "/user_actions" else RecommendationRequest
        out.append(model.model_validate(body))
    return out


async def serve_all(runtime: Runtime, requests: list[Any], in_flight: int) -> None:
    """Each of `in_flight` coroutines serves its share of `requests` one after another."""

    async def connection(first: int) -> None:
        for body in requests[first::in_flight]:
            if isinstance(body, UserActionIn):
                await record(body, runtime)
            else:
                await recommend(body, runtime)

    await asyncio.gather(*(connection(c) for c in range(in_flight)))


async def measure(runtime: Runtime, requests: list[Any], args: argparse.Namespace) -> None:
    await serve_all(runtime, requests[: len(requests) // 4], args.in_flight)  # warm up
    process: list[float] = []
    loop: list[float] = []
    stores: list[float] = []
    for round_number in range(1, args.rounds + 1):
        started_process, started_loop = time.process_time(), time.thread_time()
        started_stores = cpu_seconds_of(STORE_PROCESSES)
        await serve_all(runtime, requests, args.in_flight)
        process.append((time.process_time() - started_process) / len(requests) * 1e6)
        loop.append((time.thread_time() - started_loop) / len(requests) * 1e6)
        stores.append((cpu_seconds_of(STORE_PROCESSES) - started_stores) / len(requests) * 1e6)
        print(
            f"round {round_number}: {process[-1]:.1f} us of the process's CPU per request, "
            f"{loop[-1]:.1f} of the event loop's, {stores[-1]:.1f} of the database and Redis "
            "servers'"
        )
    print(
        f"\n{args.services} services, {args.users} users, {len(requests)} requests, "
        f"{args.in_flight} in flight, sessions {args.sessions}: median "
        f"{statistics.median(process):.1f} us of the process's CPU per request, "
        f"{statistics.median(loop):.1f} us of the event loop's, "
        f"{statistics.median(stores):.1f} us of the database and Redis servers'"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sessions", choices=("true", "false"), default="true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres", help="a PostgreSQL server's URL: store on a new database")
    parser.add_argument("--redis-url", help="keep the sessions in this Redis database")
    parser.add_argument("--engine", default="popularity", help="the default engine")
    parser.add_argument("--train", help="train this engine after loading the dump; it serves")
    args = parser.parse_args()
    store = argparse.Namespace(seed=args.seed, postgres=args.postgres)
    with (
        tempfile.TemporaryDirectory() as tmp,
        loaded_store(args.services, args.users, store, Path(tmp)) as env,
    ):
        if args.train:
            train_to_serve(args.train, env)
        settings = Settings(
            database_url=env["DATABASE_URL"],
            default_engine=args.engine,
            redis_url=args.redis_url,
            rate_limit_per_s=0,
            sessions=args.sessions == "true",
        )
        runtime = Runtime(settings)
        runtime.start(poll=False)
        try:
            requests = bodies(args.services, args.users, args.requests, args.in_flight, args.seed)
            asyncio.run(measure(runtime, requests, args))
        finally:
            runtime.close()


if __name__ == "__main__":
    main()
