"""Serving latency: time for one known user to score a 10,000-service candidate list.

Fits every engine on a synthetic catalogue of 10,000 items (Zipf-like popularity, 20,000
users with 30 events each) and prints, per engine, the median and 95th percentile of
`model.score(query, candidates)` over repeated calls, plus the time to score the whole
catalogue for 1,000 users with `score_batch` (what evaluation does).

Scoring runs with BLAS limited to one thread, as a serving process should run
(`OPENBLAS_NUM_THREADS=1`): a threaded BLAS waking its workers for a 10,000 x 128
product has a p99 near 8 ms on two shared cores, against 0.25 ms single-threaded.

    python benchmarks/engine_scoring.py [--items 10000] [--calls 500] [--engines ncf,rl]
    python benchmarks/engine_scoring.py --engines ease --param ease.neighbours=400

A second table follows browsing visitors as serving sees them: 50 visitors, each with a
50-service history that gains one service (and drops its oldest) between their requests, and
times `model.score_all` for each request asked anonymously (`Query.visitor` None: nothing to
reuse) and as the same returning visitor.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from recommender.arrays import IntArray
from recommender.engines import engine_class
from recommender.engines.base import Model, Query, TrainingOptions
from recommender.engines.hardware import limited_threads
from recommender.interactions import Interactions

# Quick fits: latency does not depend on how well a model was trained.
PARAMS = {
    "popularity": {},
    "random": {"seed": 0},
    "itemknn": {},
    "ease": {},
    "ials": {"iterations": 3},
    "bpr": {"epochs": 1},
    "ncf": {"epochs": 1, "head_epochs": 1},
    "rl": {"steps": 50},
}


def catalogue(n_items: int, n_users: int, per_user: int, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    users = np.repeat(np.arange(n_users), per_user)
    items = rng.choice(n_items, size=users.shape[0], p=popularity)
    # Sparse, non-contiguous external ids, as a real catalogue has.
    item_ids = 1_000 + 7 * np.arange(n_items)
    return Interactions.from_events(users, item_ids[items], item_ids=item_ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--engines", default=",".join(PARAMS), help="comma-separated subset")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        help="ENGINE.NAME=VALUE (a number), replacing the quick fit's; repeatable",
    )
    args = parser.parse_args()
    for setting in args.param:
        target, _, value = setting.partition("=")
        engine, _, name = target.partition(".")
        number = float(value)
        PARAMS.setdefault(engine, {})[name] = int(number) if number.is_integer() else number
    wanted = [name for name in args.engines.split(",") if name]
    data = catalogue(args.items, args.users, 30)
    rng = np.random.default_rng(1)
    candidates = rng.permutation(data.item_ids)
    users = rng.choice(data.n_users, size=max(args.calls, 1_000), replace=False)
    everyone = [Query(user_id=int(data.user_ids[u]), history=data.history(int(u))) for u in users]
    queries = everyone[: args.calls]
    print(
        f"{data.n_items:,} items, {data.n_users:,} users, {data.nnz:,} pairs; "
        f"{candidates.shape[0]:,} candidates per call, {args.calls} calls"
    )
    print("| engine | fit s | score median µs | score p95 µs | score_batch 1,000 users s |")
    print("|---|---:|---:|---:|---:|")
    models: dict[str, Model] = {}
    for name in wanted:
        params = PARAMS.get(name, {})
        began = time.perf_counter()
        model = engine_class(name)(params).fit(data, TrainingOptions(seed=0))
        fit_s = time.perf_counter() - began
        with limited_threads(blas_threads=1):
            for query in queries[:20]:
                model.score(query, candidates)
            timings = []
            for query in queries:
                start = time.perf_counter_ns()
                model.score(query, candidates)
                timings.append((time.perf_counter_ns() - start) / 1_000)
        start = time.perf_counter()
        model.score_batch(everyone[:1_000], data.item_ids)
        batch_s = time.perf_counter() - start
        median, p95 = np.percentile(timings, [50, 95])
        print(f"| {name} | {fit_s:.1f} | {median:.0f} | {p95:.0f} | {batch_s:.2f} |", flush=True)
        models[name] = model
    print("\n| engine | score_all median µs, anyone | the same, returning visitor |")
    print("|---|---:|---:|")
    for name, model in models.items():
        with limited_threads(blas_threads=1):
            anyone, returning = browsing(model, data.item_ids, args.calls)
        print(f"| {name} | {anyone:.0f} | {returning:.0f} |", flush=True)


def browsing(model: Model, item_ids: IntArray, calls: int) -> tuple[float, float]:
    """Median µs of `score_all` for browsing visitors' requests, asked without and with the
    visitor's name; each request's history is its visitor's last one plus a service."""
    rng = np.random.default_rng(2)
    histories = [list(rng.choice(item_ids, size=50, replace=False)) for _ in range(50)]
    timings: dict[bool, list[float]] = {False: [], True: []}
    for call in range(calls + 100):
        visitor = call % len(histories)
        history = histories[visitor]
        history.append(int(rng.choice(item_ids)))
        del history[0]
        for named in (False, True):
            query = Query(history=np.array(history), visitor=f"v{visitor}" if named else None)
            start = time.perf_counter_ns()
            model.score_all(query)
            if call >= 100:  # each visitor's first requests had nothing to reuse
                timings[named].append((time.perf_counter_ns() - start) / 1_000)
    return float(np.median(timings[False])), float(np.median(timings[True]))


if __name__ == "__main__":
    main()
