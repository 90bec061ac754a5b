"""CPU a stored impression costs the writer's thread and the database server, by way of storing.

    .venv/bin/python -m benchmarks.impression_log
    .venv/bin/python -m benchmarks.impression_log --url postgresql+psycopg://postgres@127.0.0.1/test

Batches of `--batch` impressions like the serving path's (three services, a search, their
explanations) are stored in a transaction each, alternately by `impressions.write_many` (as the
store writer stores them: each value converted by its column's type and handed to the driver,
by one COPY on PostgreSQL and multi-row INSERTs on SQLite) and by SQLAlchemy's `executemany`
of an INSERT. Prints, per way, the medians over `--rounds` of the thread's CPU time per
impression and, on PostgreSQL, of the server process's; then the wall clock per batch while
another thread keeps the interpreter busy, as the event loop does under load.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psutil
from sqlalchemy import Connection, insert, text

from recommender.activity import impressions
from recommender.store.database import Database
from recommender.store.ids import take_ids
from recommender.store.migrate import upgrade
from recommender.store.schema import Recommendation

Store = Callable[[Connection, list[impressions.Impression]], object]


def served(rng: random.Random, number: int) -> impressions.Impression:
    services = rng.sample(range(1, 10_001), 3)
    return impressions.Impression(
        requested_at=datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
        unique_id=f"browser-{rng.randrange(50)}",
        visit_id=f"visit-{number}",
        page_id="/services",
        panel_id="v1",
        client_id="marketplace",
        user_id=rng.choice([None, rng.randrange(1, 10_001)]),
        aai_uid=None,
        engine_requested=None,
        engine="popularity",
        model_version=3,
        catalog_version=1,
        search_data={"q": "cloud", "categories": [1, 2]},
        candidates=None,
        candidate_count=3_375,
        service_ids=services,
        scores=[0.3, 0.2, 0.1],
        explanations=["Popular among users"] * 3,
    )


def inserted(conn: Connection, shown: list[impressions.Impression]) -> object:
    """The INSERT's `executemany`, ids taken first as `write_many` takes them."""
    ids = take_ids(conn, Recommendation.__tablename__, len(shown))
    now = datetime.now(UTC)
    rows = [s.__dict__ | {"id": i, "created_at": now} for s, i in zip(shown, ids, strict=True)]
    return conn.execute(insert(Recommendation), rows)


def server_cpu(conn: Connection) -> Callable[[], float]:
    """CPU seconds so far of the server process behind `conn` (0 where there is none)."""
    if conn.dialect.name != "postgresql":
        return lambda: 0.0
    process = psutil.Process(int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one()))
    return lambda: sum(process.cpu_times()[:2])


def measure(
    db: Database, store: Store, batches: list[list[impressions.Impression]]
) -> tuple[float, float]:
    """Thread and server CPU microseconds per impression."""
    count = sum(len(batch) for batch in batches)
    with db.engine.connect() as conn:
        server = server_cpu(conn)
        conn.commit()
        server_before, thread_before = server(), time.thread_time()
        for batch in batches:
            with conn.begin():
                store(conn, batch)
        thread = time.thread_time() - thread_before
        return thread / count * 1e6, (server() - server_before) / count * 1e6


def busy_wall(db: Database, store: Store, batches: list[list[impressions.Impression]]) -> float:
    """Median milliseconds of wall clock per batch while another thread keeps the interpreter
    busy, as the event loop does under load: each time the driver lets go of the interpreter,
    the writer's thread waits for the other's next switch to have it back."""
    done = threading.Event()

    def spin() -> None:
        while not done.is_set():
            sum(range(100))

    walls = []
    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        with db.engine.connect() as conn:
            conn.commit()
            for batch in batches:
                began = time.perf_counter()
                with conn.begin():
                    store(conn, batch)
                walls.append(1e3 * (time.perf_counter() - began))
    finally:
        done.set()
        spinner.join()
    return statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--busy-batches", type=int, default=20)
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="seconds; as a server process sets it (recommender.api.app.SWITCH_INTERVAL_S) "
        "or, by default, Python's own",
    )
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(args.url or f"sqlite:///{tmp}/impressions.db")
        upgrade(db.engine)
        rng = random.Random(args.seed)
        batches = [
            [served(rng, b * args.batch + i) for i in range(args.batch)]
            for b in range(args.batches)
        ]
        ways: dict[str, Store] = {"write_many": impressions.write_many, "executemany": inserted}
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        measure(db, impressions.write_many, batches[:5])  # warm up
        for _ in range(args.rounds):
            for name, store in ways.items():
                figures[name].append(measure(db, store, batches))
        print(f"{db.engine.dialect.name}, batches of {args.batch}, {args.rounds} rounds:")
        for name, rounds in figures.items():
            thread = statistics.median(t for t, _ in rounds)
            server = statistics.median(s for _, s in rounds)
            on_server = f", {server:.1f} us of the server's" if server else ""
            print(f"  {name:12} {thread:6.1f} us of the thread's CPU per impression{on_server}")
        print(
            f"with another thread keeping the interpreter busy (switch interval "
            f"{sys.getswitchinterval() * 1e3:g} ms), wall clock per batch (median):"
        )
        for name, store in ways.items():
            print(f"  {name:12} {busy_wall(db, store, batches[: args.busy_batches]):6.1f} ms")
        db.dispose()


if __name__ == "__main__":
    main()
