"""What a retention pass costs: rows deleted per second, and how long writers wait meanwhile.

    .venv/bin/python -m benchmarks.retention --database postgresql --rows 1000000
    .venv/bin/python -m benchmarks.retention --database sqlite --rows 1000000

A fresh store gets `--rows` impressions and as many user actions (one in ten an order, half of
the others linked to an impression), with times spread evenly over `--days` days before now.
Then a writer thread stores one impression per transaction, as the serving path's writer
does with a quiet site, for `--baseline` seconds, and on through one retention pass that keeps
the last `--keep-days` days of both (`recommender.activity.retention.prune`, in batches of
`--batch` rows, holding the write lock for at most `--busy-share` of the pass). Printed: rows
deleted and the pass's seconds, and the writer's commit latency (p50 / p99 / max) before and
during the pass.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scale import PG_SERVER, database
from benchmarks.writer_cost import shown
from recommender.activity import impressions, retention
from recommender.store import migrate
from recommender.store.bulk import table_writer
from recommender.store.database import Database

CHUNK = 50_000
IMPRESSION_COLUMNS = (
    "id",
    "created_at",
    "requested_at",
    "unique_id",
    "page_id",
    "panel_id",
    "engine",
    "catalog_version",
    "search_data",
    "candidate_count",
    "service_ids",
    "scores",
    "propensity",
)
ACTION_COLUMNS = (
    "id",
    "received_at",
    "timestamp",
    "unique_id",
    "source_page_id",
    "target_visit_id",
    "target_page_id",
    "action_type",
    "action_text",
    "is_order",
    "service_id",
    "recommendation_id",
)


def fill(db: Database, rows: int, days: float, now: datetime) -> None:
    """`rows` impressions and `rows` actions, oldest first, evenly over `days` days."""
    span = timedelta(days=days)
    for start in range(0, rows, CHUNK):
        ids = range(start + 1, min(start + CHUNK, rows) + 1)
        times = [now - span + span * (i / rows) for i in ids]
        shown = [
            (
                i,
                t,
                t,
                f"u{i % 5000}",
                "/services",
                "v1",
                "popularity",
                1,
                "{}",
                3,
                [1, 2, 3],
                [0.3, 0.2, 0.1],
                1.0,
            )
            for i, t in zip(ids, times, strict=True)
        ]
        acted = [
            (
                i,
                t,
                t,
                f"u{i % 5000}",
                "/services",
                f"t{i}",
                f"/services/{i % 100}",
                "button",
                "",
                i % 10 == 0,
                i % 100,
                i if i % 2 and i % 10 else None,
            )
            for i, t in zip(ids, times, strict=True)
        ]
        with db.write() as conn:
            writer = table_writer(conn)
            writer.write("recommendations", IMPRESSION_COLUMNS, shown)
            writer.write("user_actions", ACTION_COLUMNS, acted)
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"SELECT setval('recommendations_id_seq', {rows})")
            conn.exec_driver_sql(f"SELECT setval('user_actions_id_seq', {rows})")
            conn.exec_driver_sql("VACUUM ANALYZE")


class Writer(threading.Thread):
    """Stores one impression per transaction, back to back, and times each commit."""

    def __init__(self, db: Database, shown: impressions.Impression) -> None:
        super().__init__(daemon=True)
        self.db, self.shown = db, shown
        self.latencies: list[tuple[float, float]] = []  # (started, seconds)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            began = time.perf_counter()
            with self.db.write() as conn:
                impressions.write_many(conn, [self.shown])
            self.latencies.append((began, time.perf_counter() - began))
            time.sleep(0.005)


def latency_ms(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    ordered = sorted(samples)
    return {
        "writes": len(ordered),
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p99_ms": round(1000 * float(np.quantile(ordered, 0.99)), 2),
        "max_ms": round(1000 * ordered[-1], 2),
    }


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    now = datetime.now(UTC)
    with database(args.database, work, "retention", args.postgres_url) as url:
        db = Database(url, pool_size=4)
        try:
            migrate.upgrade(db.engine)
            began = time.perf_counter()
            fill(db, args.rows, args.days, now)
            fill_s = time.perf_counter() - began
            sample = shown(0)
            writer = Writer(db, sample)
            writer.start()
            time.sleep(args.baseline)
            pass_began = time.perf_counter()
            windows = retention.Windows(impression_days=args.keep_days, action_days=args.keep_days)
            pruned = retention.prune(db, windows, now, batch=args.batch, busy_share=args.busy_share)
            pass_ended = time.perf_counter()
            writer.stop.set()
            writer.join()
        finally:
            db.dispose()
    before = [s for started, s in writer.latencies if started < pass_began]
    during = [s for started, s in writer.latencies if pass_began <= started < pass_ended]
    seconds = pass_ended - pass_began
    deleted = pruned.impressions + pruned.actions
    return {
        "database": args.database,
        "rows": args.rows,
        "batch": args.batch,
        "busy_share": args.busy_share
        if args.busy_share is not None
        else (retention.SQLITE_BUSY_SHARE if args.database == "sqlite" else 1.0),
        "fill_s": round(fill_s, 1),
        "deleted_impressions": pruned.impressions,
        "deleted_actions": pruned.actions,
        "pass_s": round(seconds, 1),
        "rows_per_s": round(deleted / seconds) if seconds else None,
        "writer_before": latency_ms(before),
        "writer_during": latency_ms(during),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", PG_SERVER),
        help="A server on which this run may create and drop a database of its own.",
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=60.0)
    parser.add_argument("--keep-days", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=retention.BATCH)
    parser.add_argument(
        "--busy-share", type=float, default=None, help="default: half on SQLite, all on PostgreSQL"
    )
    parser.add_argument("--baseline", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="retention-") as folder:
        print(json.dumps(run(args, Path(folder)), indent=1))


if __name__ == "__main__":
    main()
