"""CPU time of the ranking step of one recommendation, in one process, without HTTP.

    .venv/bin/python -m benchmarks.ranking_path --services 10000 --users 10000

A generated dump is loaded into a fresh SQLite database and a serving runtime is started on
it, as `recommender serve` starts one. Then, with the serving state it built, each of these
is called `--calls` times with queries drawn from the catalogue's scientific domains and
categories (as a search filter or a profile brings them), and the median time per call over
`--rounds` rounds is printed:

- popularity's scores over the whole catalogue for a query with a context;
- the panel's top 3 by popularity for such a query (`serving.topk.top_k`);
- the panel's top 3 by popularity for a query without a context (its order walked);
- the panel's top 3 by a model scoring every service, as a learned engine does (ease, ncf),
  with scores drawn at random, over the whole catalogue and over a third of it (a filter).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.serving import loaded_store
from recommender.config import Settings
from recommender.engines.base import Query
from recommender.runtime import Runtime
from recommender.serving.state import ServingState
from recommender.serving.topk import top_k

PANEL = 3


def contextual_queries(n: int, seed: int) -> list[Query]:
    rng = np.random.default_rng(seed)
    return [
        Query(
            scientific_domains=tuple(int(v) for v in rng.integers(1, 51, rng.integers(0, 3))),
            categories=tuple(int(v) for v in rng.integers(1, 201, rng.integers(1, 3))),
        )
        for _ in range(n)
    ]


def per_call_us(fn: Callable[[Query], object], queries: list[Query], rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        for query in queries:
            fn(query)
        timings.append((time.perf_counter() - start) / len(queries) * 1e6)
    return statistics.median(timings)


class EveryServiceScored:
    """A learned engine's shape: a score for every service of the catalogue, in its order."""

    def __init__(self, ids: np.ndarray, seed: int) -> None:
        self.ids = ids
        self.scores = np.asarray(np.random.default_rng(seed).random(ids.shape[0]), np.float32)

    def ordering(self, query: Query) -> None:
        return None

    def score_all(self, query: Query) -> tuple[np.ndarray, np.ndarray]:
        return self.ids, self.scores


def measure(state: ServingState, calls: int, rounds: int, seed: int) -> dict[str, float]:
    model = state.models["popularity"].model
    catalog = state.catalog
    mask = catalog.recommendable.copy()
    queries = contextual_queries(calls, seed)
    plain = [Query() for _ in range(calls)]

    def panel(query: Query) -> object:
        return top_k(model, query, catalog, mask, PANEL, state.alignments)

    learned = EveryServiceScored(catalog.service_ids, seed)
    filtered = mask & (np.random.default_rng(seed).random(mask.shape[0]) < 1 / 3)

    def learned_panel(query: Query, allowed: np.ndarray = mask) -> object:
        return top_k(learned, query, catalog, allowed, PANEL, state.alignments)  # type: ignore[arg-type]

    return {
        "popularity scores, with a context": per_call_us(model.score_all, queries, rounds),
        f"top {PANEL} by popularity, with a context": per_call_us(panel, queries, rounds),
        f"top {PANEL} by popularity, no context": per_call_us(panel, plain, rounds),
        f"top {PANEL} of every service scored": per_call_us(learned_panel, plain, rounds),
        f"top {PANEL} of every service scored, 1/3 allowed": per_call_us(
            lambda query: learned_panel(query, filtered), plain, rounds
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    store = argparse.Namespace(seed=args.seed, postgres=None)
    with (
        tempfile.TemporaryDirectory() as tmp,
        loaded_store(args.services, args.users, store, Path(tmp)) as env,
    ):
        runtime = Runtime(Settings(database_url=env["DATABASE_URL"]))
        runtime.start(poll=False)
        try:
            figures = measure(runtime.serving.current, args.calls, args.rounds, args.seed)
        finally:
            runtime.close()
    print(f"\n{args.services} services, {args.users} users, median of {args.rounds} rounds")
    for name, value in figures.items():
        print(f"{name:48} {value:8.1f} us per call")


if __name__ == "__main__":
    main()
