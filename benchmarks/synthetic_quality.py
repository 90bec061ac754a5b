"""How well engines trained on a synthetic marketplace find what its users go on to order.

    .venv/bin/python -m benchmarks.synthetic_quality                 # 1,000 services, 10,000 users
    .venv/bin/python -m benchmarks.synthetic_quality --services 200 --users 2000 --sample 500
    .venv/bin/python -m benchmarks.synthetic_quality --seeds 5      # five marketplaces, means

Each engine is trained the production way (the marketplace's dump, panels and actions in a
store, `build_interactions`, early stopping where the engine has it) and asked, like serving
asks, for each sampled user's top K among the recommendable services the user does not use.
A hit is one of the ground truth's held-out future orders in that top K. Users with a history
(warm) and without one (cold: declared interests only) are reported apart; a model that cannot
personalise for a user leaves them to popularity, as serving does.

Which engine wins changes from one marketplace to the next (a hit is 1/2000 of a user group),
so with `--seeds N` the script also reports each engine's mean over the N marketplaces with a
t-interval, and its paired per-marketplace difference from `popularity` and `itemknn`.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from recommender.engines.base import Model, Query
from recommender.engines.ranking import rank
from recommender.evaluation.params import EngineParamSets, parse_flags
from recommender.simulation import t_interval
from recommender.simulation.training import fit_engine, marketplace_data
from recommender.synthetic import SynthConfig, generate

ENGINES = "popularity,itemknn,ease,ials,ncf,rl"


def hit_rate(
    model: Model,
    fallback: Model,
    users: Sequence[dict[str, Any]],
    future: dict[int, set[int]],
    recommendable: np.ndarray,
    k: int,
) -> tuple[float, float]:
    """(HR@k, share of users the model itself answered)."""
    hits = answered = 0
    for user in users:
        used = set(user["accessed_services"])
        candidates = np.array([s for s in recommendable if s not in used], dtype=np.int64)
        query = Query(
            user_id=int(user["id"]),
            history=np.asarray(user["accessed_services"], dtype=np.int64),
            scientific_domains=tuple(user["scientific_domains"]),
            categories=tuple(user["categories"]),
        )
        chosen = model if model.knows(query) else fallback
        answered += chosen is model
        top, _ = rank(chosen, query, candidates, k)
        hits += bool(set(top.tolist()) & future[int(user["id"])])
    return hits / max(len(users), 1), answered / max(len(users), 1)


def measure_seed(
    seed: int, args: argparse.Namespace, flags: EngineParamSets
) -> dict[str, tuple[float, float]]:
    """Every engine's (warm, cold) HR@k on the marketplace of `seed`, printed as a table."""
    began = time.perf_counter()
    market = generate(
        SynthConfig(services=args.services, users=args.users, days=args.days, seed=seed)
    )
    logged = marketplace_data(market)
    data = logged.interactions
    truth = market.ground_truth["users"]
    future = {
        int(u): set(orders) for u, orders in zip(truth["ids"], truth["future_orders"], strict=True)
    }
    services = market.dump["services"]
    recommendable = np.array(
        [s["id"] for s in services if s.get("status") in ("published", "unverified")]
    )
    rng = np.random.default_rng(seed)
    users = [u for u in market.dump["users"] if future[int(u["id"])]]
    warm_pool = [u for u in users if u["accessed_services"]]
    cold_pool = [u for u in users if not u["accessed_services"]]
    warm = [warm_pool[i] for i in rng.permutation(len(warm_pool))[: args.sample]]
    cold = [cold_pool[i] for i in rng.permutation(len(cold_pool))[: args.sample]]
    print(
        f"{args.services:,} services, {args.users:,} users, {args.days} days, seed {seed}: "
        f"{data.nnz:,} training pairs, {len(logged.transitions):,} logged panels; "
        f"{len(warm)} warm and {len(cold)} cold users with future orders; "
        f"{platform.machine()}, generated and loaded in {time.perf_counter() - began:.0f} s"
    )
    fallback = fit_engine("popularity", data)
    print(f"| engine | HR@{args.k} warm | HR@{args.k} cold | cold users it answers | fit s |")
    print("|---|---:|---:|---:|---:|")
    results = {}
    for name in [n for n in args.engines.split(",") if n]:
        started = time.perf_counter()
        model = fit_engine(name, data, flags.get(name), seed=seed, transitions=logged.transitions)
        fit_s = time.perf_counter() - started
        warm_hr, _ = hit_rate(model, fallback, warm, future, recommendable, args.k)
        cold_hr, cold_own = hit_rate(model, fallback, cold, future, recommendable, args.k)
        results[name] = (warm_hr, cold_hr)
        print(
            f"| {name} | {warm_hr:.3f} | {cold_hr:.3f} | {cold_own:.0%} | {fit_s:.0f} |", flush=True
        )
    return results


def _mean_ci(values: Sequence[float]) -> str:
    low, high = t_interval(values)
    return f"{float(np.mean(values)):.3f} [{low:.3f}, {high:.3f}]"


def print_summary(per_seed: list[dict[str, tuple[float, float]]], k: int) -> None:
    """Means over the marketplaces, and paired differences from the two baselines."""
    print(f"\nOver {len(per_seed)} marketplaces (mean [95% t-interval]):\n")
    print(f"| engine | HR@{k} warm | HR@{k} cold | warm per seed | cold per seed |")
    print("|---|---:|---:|---|---|")
    for name in per_seed[0]:
        warm = [seed[name][0] for seed in per_seed]
        cold = [seed[name][1] for seed in per_seed]
        print(
            f"| {name} | {_mean_ci(warm)} | {_mean_ci(cold)} | "
            f"{' '.join(f'{v:.3f}' for v in warm)} | {' '.join(f'{v:.3f}' for v in cold)} |"
        )
    for baseline in ("popularity", "itemknn"):
        if baseline not in per_seed[0]:
            continue
        print(
            f"\nPaired difference from `{baseline}` (engine minus {baseline}, per marketplace):\n"
        )
        print("| engine | warm | cold | warm wins | cold wins |")
        print("|---|---:|---:|---:|---:|")
        for name in per_seed[0]:
            if name == baseline:
                continue
            warm = [seed[name][0] - seed[baseline][0] for seed in per_seed]
            cold = [seed[name][1] - seed[baseline][1] for seed in per_seed]
            print(
                f"| {name} | {_mean_ci(warm)} | {_mean_ci(cold)} | "
                f"{sum(v > 0 for v in warm)}/{len(warm)} | {sum(v > 0 for v in cold)}/{len(cold)} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default=ENGINES)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first marketplace")
    parser.add_argument("--seeds", type=int, default=1, help="marketplaces to average over")
    parser.add_argument("--sample", type=int, default=2000, help="users per group")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument(
        "-p", "--param", action="append", default=[], help="ENGINE.NAME=VALUE, repeatable"
    )
    args = parser.parse_args()
    flags = parse_flags(args.param)
    began = time.perf_counter()
    per_seed = [measure_seed(args.seed + i, args, flags) for i in range(args.seeds)]
    if args.seeds > 1:
        print_summary(per_seed, args.k)
    print(f"\n{time.perf_counter() - began:.0f} s in all")


if __name__ == "__main__":
    main()
