"""CPU the store writer's thread spends per user action, stored one by one or as a batch.

    .venv/bin/python -m benchmarks.writer_cost
    .venv/bin/python -m benchmarks.writer_cost --url postgresql+psycopg://postgres@127.0.0.1/test

The writer thread shares the interpreter with the event loop that serves requests, so its CPU
time per action is time the loop may wait for. Clicks on panels of impressions stored first
are written in transactions of `--batch` actions, alternately with `actions.record` per action
(as `POST /user_actions` did) and with `actions.record_many` (as it does); prints the median
thread CPU time per action of each over `--rounds` rounds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime

from recommender.activity import actions, impressions
from recommender.contract.user_actions import UserActionIn
from recommender.store.database import Database
from recommender.store.migrate import upgrade

SERVED = 2_000


def shown(visit: int) -> impressions.Impression:
    return impressions.Impression(
        requested_at=datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
        unique_id="bench",
        visit_id=f"visit-{visit}",
        page_id="/services",
        panel_id="v1",
        client_id=None,
        user_id=None,
        aai_uid=None,
        engine_requested=None,
        engine="popularity",
        model_version=None,
        catalog_version=1,
        search_data={},
        candidates=None,
        candidate_count=3,
        service_ids=[1, 2, 3],
        scores=[0.3, 0.2, 0.1],
    )


def click(number: int) -> UserActionIn:
    root = {"type": "recommendation_panel", "panel_id": "v1", "service_id": 2}
    return UserActionIn.model_validate(
        {
            "unique_id": "bench",
            "timestamp": "2026-11-27T10:00:05Z",
            "source": {
                "visit_id": f"visit-{number % SERVED}",
                "page_id": "/services",
                "root": root,
            },
            "target": {"visit_id": f"click-{number}", "page_id": "/services/2"},
            "action": {"type": "button", "text": "", "order": False},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: a new SQLite file)")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    db = Database(args.url or f"sqlite:///{tempfile.mkdtemp()}/writer.db")
    upgrade(db.engine)
    with db.write() as conn:
        impressions.write_many(conn, [shown(v) for v in range(SERVED)])
    index: dict[str, int] = {}  # one serving snapshot's AAI index for the whole batch
    per_action: dict[str, list[float]] = {"one by one": [], "as a batch": []}
    number = 0
    for _ in range(args.rounds):
        for mode, times in per_action.items():
            batch = [click(number + j) for j in range(args.batch)]
            number += args.batch
            started = time.thread_time()
            with db.write() as conn:
                if mode == "one by one":
                    for action in batch:
                        actions.record(conn, action, index)
                else:
                    actions.record_many(conn, [(action, index) for action in batch])
            times.append((time.thread_time() - started) / args.batch * 1e6)
    for mode, times in per_action.items():
        print(
            f"{db.dialect}, batches of {args.batch}, {mode}: "
            f"median {statistics.median(times):.0f} us CPU per action"
        )
    db.dispose()


if __name__ == "__main__":
    main()
