"""What engines' panels earn online, in sessions of synthetic visitors: the standard comparison.

    .venv/bin/python -m benchmarks.simulation                       # 5 seeds, 200 services
    .venv/bin/python -m benchmarks.simulation --engines rl,ncf,popularity,random --seeds 3

Each seed generates a marketplace, trains every engine on its log the production way and runs
the same sessions for all of them, then the oracle (the visitors' true tastes, a ceiling no
engine reaches). Prints a markdown table: mean return per session with its 95 % interval
over seeds, click-through and order rates per service shown, and wall time (fit + sessions).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from recommender.contract.rewards import RewardValues
from recommender.evaluation.params import parse_flags
from recommender.simulation import OraclePolicy, simulate
from recommender.simulation.online import OnlineSchedule
from recommender.synthetic import SynthConfig

ENGINES = "popularity,random,itemknn,ease,ials,ncf,rl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default=ENGINES, help="comma-separated engine names")
    parser.add_argument("--seeds", type=int, default=5, help="marketplaces to average over")
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--episodes", type=int, default=1000, help="sessions per marketplace")
    parser.add_argument("--steps", type=int, default=5, help="panels per session")
    parser.add_argument("--rewards", default="", help="LABEL=NUMBER pairs, as RewardValues")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--online-episodes",
        type=int,
        default=0,
        help="sessions rl plays and learns from after its offline fit (0: offline only)",
    )
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seed of the first marketplace (tune on others than those you report)",
    )
    parser.add_argument(
        "-p", "--param", action="append", default=[], help="ENGINE.NAME=VALUE, repeatable"
    )
    parser.add_argument("--json", action="store_true", help="also print the report as JSON")
    args = parser.parse_args()
    config = SynthConfig(services=args.services, users=args.users, days=args.days)
    began = time.perf_counter()
    report = simulate(
        config,
        [name for name in args.engines.split(",") if name.strip()],
        list(range(args.first_seed, args.first_seed + args.seeds)),
        args.episodes,
        args.steps,
        params=parse_flags(args.param),
        rewards=RewardValues.parse(args.rewards),
        device=args.device,
        references={"oracle (truth)": OraclePolicy.of},
        online=OnlineSchedule(episodes=args.online_episodes) if args.online_episodes else None,
    )
    total_s = time.perf_counter() - began
    print(
        f"{args.seeds} marketplaces of {args.services} services, {args.users} users, "
        f"{args.days} days; {args.episodes} sessions of {args.steps} panels each; "
        f"rl online episodes: {args.online_episodes}; "
        f"{total_s:.0f} s in all on {platform.processor() or platform.machine()}"
    )
    print()
    print(
        "| engine | mean return | 95% CI | CTR | order rate | wall s (fit + sessions) | per seed |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, result in report.results.items():
        low, high = result.ci95
        seeds = " ".join(f"{value:.3f}" for value in result.per_seed)
        print(
            f"| {name} | {result.mean_return:.3f} | [{low:.3f}, {high:.3f}] | "
            f"{result.ctr:.4f} | {result.order_rate:.4f} | {result.fit_s + result.run_s:.1f} "
            f"| {seeds} |"
        )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))


if __name__ == "__main__":
    main()
