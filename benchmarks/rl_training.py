"""What training the `rl` engine costs per 100,000 transitions (SARS) on this machine.

    .venv/bin/python -m benchmarks.rl_training                       # 1,000 services, 50,000 users
    .venv/bin/python -m benchmarks.rl_training --users 10000 --updates 200

A synthetic marketplace goes into a SQLite store the way the API takes it; then, each timed
on its own: rebuilding journeys and SARS from the stored impressions and actions (what the
`train` job does incrementally before a fit), reading them back, building the experience
(service vectors from implicit ALS plus the feature projection, the state table, the
implicit-ALS model the agent corrects), a fixed number of TD3+BC updates, a default offline
fit (no validation fold, so it takes the engine's whole update budget) and the export of the
fitted policy (with the spreads its blend with the collaborative model needs). Times are
scaled to 100,000 transitions where they grow with the log; updates cost the same whatever
the log's size (a batch is 256 transitions).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from recommender.activity.usage import build_interactions
from recommender.config import Settings
from recommender.engines.base import TrainingOptions
from recommender.engines.hardware import limited_threads
from recommender.engines.rl import RLEngine
from recommender.engines.rl.params import offline_updates
from recommender.engines.rl.training import RLTraining
from recommender.simulation.training import load_marketplace
from recommender.store.database import Database
from recommender.synthetic import SynthConfig, generate
from recommender.training.transition_log import extend_transitions, load_transitions

PER = 100_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--updates", type=int, default=1000, help="updates in the timed block")
    args = parser.parse_args()

    started = time.perf_counter()
    market = generate(
        SynthConfig(services=args.services, users=args.users, days=args.days, seed=args.seed)
    )
    generated = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="recommender-rl-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'marketplace.db'}"
        db = Database(url, pool_size=1)
        try:
            started = time.perf_counter()
            load_marketplace(db, market)
            loaded = time.perf_counter() - started

            started = time.perf_counter()
            added = extend_transitions(db, Settings(_env_file=None, database_url=url))
            built = time.perf_counter() - started

            started = time.perf_counter()
            with db.engine.connect() as conn:
                data = build_interactions(conn)
                transitions = load_transitions(conn)
            read = time.perf_counter() - started
        finally:
            db.dispose()

    engine = RLEngine()
    threads = engine.params.threads or torch.get_num_threads()
    with limited_threads(torch_threads=threads):
        started = time.perf_counter()
        run = RLTraining(
            engine.params, data, TrainingOptions(seed=args.seed, transitions=transitions)
        )
        prepared = time.perf_counter() - started
        n = len(run.experience)

        started = time.perf_counter()
        run.train(args.updates)
        per_update = (time.perf_counter() - started) / args.updates

        default_steps = run.offline_steps()
        fresh = RLTraining(
            engine.params, data, TrainingOptions(seed=args.seed, transitions=transitions)
        )
        started = time.perf_counter()
        fresh.train(default_steps)
        fitted = time.perf_counter() - started

        started = time.perf_counter()
        fresh.model()
        exported = time.perf_counter() - started

    batch = engine.params.batch_size
    scale = PER / max(n, 1)
    print(
        f"{args.services:,} services, {args.users:,} users, {args.days} days, seed {args.seed}: "
        f"{len(market.recommendations):,} served panels, {added:,} SARS from them, "
        f"{n:,} transitions in the experience (with one per use of a service); "
        f"{platform.machine()}, {threads} torch thread(s) while training"
    )
    print(f"generated in {generated:.0f} s, stored in {loaded:.0f} s")
    print()
    print("| step | measured s | s per 100k transitions |")
    print("|---|---:|---:|")
    print(
        f"| journeys and SARS from the store ({added:,}) | {built:.1f} | "
        f"{built * PER / max(added, 1):.1f} |"
    )
    print(f"| read usage and SARS back | {read:.1f} | {read * scale:.1f} |")
    print(
        f"| experience, service vectors and collaborative model ({n:,}) | {prepared:.1f} | "
        f"{prepared * scale:.1f} |"
    )
    print(
        f"| one pass of updates ({PER // batch:,} x {batch}) | "
        f"{per_update * (n / batch):.1f} | {per_update * PER / batch:.1f} |"
    )
    # The updates a log of 100k transitions gets by default, at the measured cost of one.
    steps_per = offline_updates(engine.params, PER)
    print(
        f"| default offline fit ({default_steps:,} updates; {steps_per:,} for 100k) | "
        f"{fitted:.1f} | {per_update * steps_per:.1f} |"
    )
    print(f"| export with the blend's spreads | {exported:.1f} | {exported * scale:.1f} |")
    print()
    print(f"one update of {batch} transitions: {per_update * 1000:.2f} ms")


if __name__ == "__main__":
    main()
