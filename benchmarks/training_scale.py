"""Training time, peak memory and quality of engines as a marketplace's usage grows.

    nice -n 10 .venv/bin/python -m benchmarks.training_scale --actions 1000000 --engines ncf
    nice -n 10 .venv/bin/python -m benchmarks.training_scale --actions 100000 --engines ncf \\
        --params '{"ncf": {"head_sample": 0}}'
    nice -n 10 .venv/bin/python -m benchmarks.training_scale \\
        --actions 1000000,3000000,10000000 --engines popularity,ials --out ials.json
    .venv/bin/python -m benchmarks.training_scale --fit ials.json ncf.json

For each size a marketplace's usage is generated (`generate_usage`, numpy only): services and
users in latent communities, services with a popularity skew, each user's actions drawn from
the services of their two communities (or, with `--noise`, from the whole catalogue by
popularity), timestamps spread over `--days` days, about `--actions-per-user` actions a user.
Everything before the last day is the training data; the held-out set is each user's uses on
the last day of services they had not used before. Users who used nothing new that day, or
nothing before it, are not evaluated; `--sample` of the others, drawn once per size, are.

Each engine is fitted with its default parameters in a child process of its own, so that the
kernel's peak resident memory of one fit does not hide another's: wall and CPU seconds of the
fit; the resident memory before it (the training data alone, `Interactions.from_events` with
its event log) and the peak of building that data; and the peak resident memory of the fit
itself, the data held (the kernel's peak is reset when the fit starts). Engines that stop
early (ncf) are fitted as evaluation fits them (`fit_for`): first on all but each user's
latest training pair, stopping on those, then again on all the training data with the epochs
they chose; the split and both fits are timed. Quality is the project's HR@10 and NDCG@10
(`evaluate_model`) over the whole catalogue, each user's earlier services excluded.

Fit time and peak memory of each engine are then fitted as `fixed + per_1M * actions` (least
squares over the sizes) and projected to 100M actions. `--fit a.json b.json` fits the rows of
several runs' `--out` files together.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from benchmarks.scale import status_mb
from recommender.engines import engine_class
from recommender.engines.base import TrainingOptions
from recommender.evaluation.datasets import from_interactions
from recommender.evaluation.protocols import temporal_loo
from recommender.evaluation.runner import evaluate_model, fit_for
from recommender.folds import Fold, Heldout
from recommender.interactions import Interactions
from recommender.progress import Progress

DAY_S = 86_400.0
# 2026-01-01T00:00:00Z: the generated usage starts on a real date so times look like a store's.
START_S = 1_767_225_600.0
K = 10
PROJECTED_ACTIONS = 100_000_000

IntArray = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Usage:
    """Generated actions as parallel arrays of external ids, and the size they came from."""

    users: IntArray
    services: IntArray
    times: NDArray[np.float64]
    n_users: int
    n_services: int
    days: int


def _community_draws(
    rng: np.random.Generator, communities: IntArray, keys: NDArray[np.float64]
) -> IntArray:
    """One service position per entry of `communities`, by popularity within the community.

    `keys` holds each community's cumulative popularity shares shifted by the community's
    number (community c spans (c, c + 1]), so one sorted search draws for every community.
    """
    targets = communities + rng.random(communities.shape[0])
    return np.searchsorted(keys, targets, side="right").astype(np.int64)


def generate_usage(
    n_actions: int,
    *,
    n_services: int = 10_000,
    days: int = 30,
    actions_per_user: int = 10,
    communities: int = 100,
    skew: float = 0.8,
    noise: float = 0.2,
    seed: int = 0,
) -> Usage:
    """`n_actions` uses of `n_services` services by `n_actions // actions_per_user` users."""
    rng = np.random.default_rng(seed)
    n_users = max(1, n_actions // actions_per_user)
    communities = min(communities, n_services)
    # Every community gets services; the popularity rank is independent of the community.
    service_community = rng.permutation(np.arange(n_services) % communities)
    popularity = 1.0 / (rng.permutation(n_services) + 1.0) ** skew
    grouped = np.argsort(service_community, kind="stable")
    grouped_community = service_community[grouped]
    grouped_weight = popularity[grouped]
    cumulative = np.cumsum(grouped_weight)
    totals = np.bincount(grouped_community, weights=grouped_weight, minlength=communities)
    before = np.concatenate(([0.0], np.cumsum(totals)[:-1]))
    within = (cumulative - before[grouped_community]) / totals[grouped_community]
    # Rounding must not leave a draw past a community's last service.
    within[np.r_[grouped_community[1:] != grouped_community[:-1], True]] = 1.0
    keys = grouped_community + within
    global_share = np.cumsum(popularity) / popularity.sum()

    # A heavy tail of activity: most users act a few times, some very often.
    activity = rng.lognormal(mean=0.0, sigma=1.0, size=n_users)
    action_users = np.searchsorted(
        np.cumsum(activity) / activity.sum(), rng.random(n_actions), side="right"
    ).astype(np.int64)
    action_users = np.minimum(action_users, n_users - 1)
    interests = rng.integers(communities, size=(n_users, 2))
    # Two thirds of a user's community actions go to their first interest.
    which = (rng.random(n_actions) >= 2 / 3).astype(np.int64)
    chosen = _community_draws(rng, interests[action_users, which], keys)
    services = grouped[np.minimum(chosen, n_services - 1)]
    noisy = np.flatnonzero(rng.random(n_actions) < noise)
    services[noisy] = np.minimum(
        np.searchsorted(global_share, rng.random(noisy.shape[0]), side="right"), n_services - 1
    )
    day = rng.integers(days, size=n_actions)
    times = START_S + (day + rng.random(n_actions)) * DAY_S
    return Usage(
        users=action_users + 1,
        services=services.astype(np.int64) + 1,
        times=times,
        n_users=n_users,
        n_services=n_services,
        days=days,
    )


@dataclass(frozen=True, eq=False)
class HeldOutDay:
    """Training actions (before the last day) and the sampled users' new services on it."""

    train: Usage
    # Parallel arrays: a sampled user and one service new to them on the last day.
    users: IntArray
    services: IntArray
    evaluable: int


def hold_out_last_day(usage: Usage, sample: int, seed: int) -> HeldOutDay:
    last_day_start = START_S + (usage.days - 1) * DAY_S
    before = usage.times < last_day_start
    width = usage.n_services + 1
    trained = np.unique(usage.users[before] * width + usage.services[before])
    last_day = np.unique(usage.users[~before] * width + usage.services[~before])
    new = np.setdiff1d(last_day, trained, assume_unique=True)
    # Users without a training history get nothing personal from any engine: not evaluated.
    known = np.isin(new // width, np.unique(usage.users[before]))
    new = new[known]
    evaluable = np.unique(new // width)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.permutation(evaluable)[:sample])
    new = new[np.isin(new // width, chosen)]
    train = Usage(
        users=usage.users[before],
        services=usage.services[before],
        times=usage.times[before],
        n_users=usage.n_users,
        n_services=usage.n_services,
        days=usage.days - 1,
    )
    return HeldOutDay(
        train=train,
        users=new // width,
        services=new % width,
        evaluable=int(evaluable.shape[0]),
    )


def save(path: Path, held: HeldOutDay) -> None:
    np.savez(
        path,
        users=held.train.users,
        services=held.train.services,
        times=held.train.times,
        n_services=np.int64(held.train.n_services),
        heldout_users=held.users,
        heldout_services=held.services,
    )


def heldout_fold(data: Interactions, users: IntArray, services: IntArray) -> Fold:
    """The last day's new services of the sampled users, ranked against the whole catalogue
    with the services each user used before excluded."""
    rows = data.user_index(users)
    evaluated, row_of = np.unique(rows, return_inverse=True)
    relevant = sp.csr_matrix(
        (np.ones(rows.shape[0], dtype=np.float32), (row_of, data.item_index(services))),
        shape=(evaluated.shape[0], data.n_items),
    )
    exclude = sp.csr_matrix(data.binary()[evaluated])
    return Fold(train=data, heldout=Heldout(users=evaluated, relevant=relevant, exclude=exclude))


def resident_mb(field: str) -> float:
    """This process's VmRSS (now) or VmHWM (its peak), in MB."""
    found = status_mb(os.getpid(), field)
    return float("nan") if found is None else found


def reset_peak() -> None:
    """Start VmHWM again from the present resident size, so that the peak read after the fit
    is the fit's own (with the training data held) and not that of building the data."""
    Path("/proc/self/clear_refs").write_text("5")


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def progress_since(wall: float, cpu: float) -> Progress:
    """Progress lines stamped with the fit's wall and CPU seconds so far: a fit stopped
    before its end still tells what each of its phases and epochs cost."""

    def say(fraction: float, message: str) -> None:
        print(
            f"    {time.perf_counter() - wall:7.1f} s {cpu_s() - cpu:7.1f} CPU s "
            f"{fraction:4.0%} {message}",
            file=sys.stderr,
            flush=True,
        )

    return say


def fit_and_measure(
    data_file: Path, engine_name: str, seed: int, params: dict[str, Any]
) -> dict[str, Any]:
    """In the child: build the training data, fit one engine (its defaults with `params`),
    measure it on the held-out day."""
    with np.load(data_file) as saved:
        arrays = {name: saved[name] for name in saved.files}
    n_services = int(arrays["n_services"])
    data = Interactions.from_events(
        arrays["users"],
        arrays["services"],
        timestamps=arrays["times"],
        item_ids=np.arange(1, n_services + 1),
    )
    fold = heldout_fold(data, arrays["heldout_users"], arrays["heldout_services"])
    del arrays
    engine = engine_class(engine_name)(params)
    row: dict[str, Any] = {
        "build_peak_mb": round(resident_mb("VmHWM")),
        "data_mb": round(resident_mb("VmRSS")),
    }
    reset_peak()
    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), cpu_s()
    options = TrainingOptions(seed=seed, progress=progress_since(wall, cpu))
    validation = None
    if engine.uses_validation:
        validation = temporal_loo(from_interactions(data, "training-scale"), seed).test
        row["split_s"] = round(time.perf_counter() - wall, 1)
    fitted = fit_for(engine, fold, validation, options)
    row |= {
        "fit_s": round(time.perf_counter() - wall, 2),
        "fit_cpu_s": round(cpu_s() - cpu, 2),
        "fit_peak_mb": round(resident_mb("VmHWM")),
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "fitted_params": fitted.fitted_params,
    }
    for curve in ("epoch_s", "head_epoch_s"):
        if curve in fitted.curves:
            row[f"tuning_{curve}"] = [round(s, 1) for s in fitted.curves[curve]]
    result = evaluate_model(fitted.model, fold, K, ("HR", "NDCG"))
    row |= {name: round(value, 4) for name, value in result.metrics.items()}
    row["train_users"] = data.n_users
    row["train_pairs"] = data.nnz
    return row


def run_child(
    data_file: Path, engine: str, seed: int, params: dict[str, Any], work: Path
) -> dict[str, Any]:
    """One fit in a process of its own; its row, with the kernel's peak of the child from the
    fit on (the evaluation included)."""
    out = work / f"{engine}.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks.training_scale",
        "--child",
        str(data_file),
        engine,
        str(out),
        "--seed",
        str(seed),
        "--params",
        json.dumps({engine: params}),
    ]
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"fitting {engine} failed (status {status})")
    row: dict[str, Any] = json.loads(out.read_text())
    row["fit_and_rank_peak_mb"] = round(usage.ru_maxrss / 1024)
    return row


def measure(n_actions: int, engines: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    began = time.perf_counter()
    usage = generate_usage(
        n_actions,
        n_services=args.services,
        days=args.days,
        actions_per_user=args.actions_per_user,
        noise=args.noise,
        seed=args.seed,
    )
    generate_s = time.perf_counter() - began
    held = hold_out_last_day(usage, args.sample, args.seed)
    print(
        f"{n_actions:,} actions: {usage.n_users:,} users, {usage.n_services:,} services, "
        f"generated in {generate_s:.1f} s; {held.train.users.shape[0]:,} training actions, "
        f"{held.evaluable:,} users with new services on the last day, "
        f"{np.unique(held.users).shape[0]:,} evaluated",
        file=sys.stderr,
        flush=True,
    )
    del usage
    rows = []
    with tempfile.TemporaryDirectory(prefix="training-scale-") as tmp:
        data_file = Path(tmp) / "usage.npz"
        save(data_file, held)
        for engine in engines:
            print(f"  {engine} ...", file=sys.stderr, flush=True)
            row = {
                "engine": engine,
                "actions": n_actions,
                "users": held.train.n_users,
                "services": held.train.n_services,
                "generate_s": round(generate_s, 1),
                "evaluable_users": held.evaluable,
                "evaluated_users": int(np.unique(held.users).shape[0]),
            }
            params = args.params.get(engine, {})
            if params:
                row["params"] = params
            row |= run_child(data_file, engine, args.seed, params, Path(tmp))
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def per_million(rows: list[dict[str, Any]], metric: str) -> tuple[float, float] | None:
    """(fixed, per 1M actions) by least squares; None with fewer than two sizes."""
    actions = np.asarray([r["actions"] / 1e6 for r in rows])
    if np.unique(actions).shape[0] < 2:
        return None
    slope, intercept = np.polyfit(actions, np.asarray([float(r[metric]) for r in rows]), 1)
    return float(intercept), float(slope)


def report(rows: list[dict[str, Any]]) -> dict[str, Any]:
    print(
        f"{'engine':>10} {'actions':>11} {'users':>10} {'pairs':>10} {'fit s':>8} "
        f"{'CPU s':>8} {'peak MB':>8} {'data MB':>8} {'HR@10':>7} {'NDCG@10':>7} fitted"
    )
    for r in rows:
        print(
            f"{r['engine']:>10} {r['actions']:>11,} {r['users']:>10,} {r['train_pairs']:>10,} "
            f"{r['fit_s']:>8} {r['fit_cpu_s']:>8} {r['fit_peak_mb']:>8,} {r['data_mb']:>8,} "
            f"{r['HR@10']:>7.4f} {r['NDCG@10']:>7.4f} {json.dumps(r['fitted_params'])}"
        )
    fits: dict[str, Any] = {}
    print(f"\nfitted: fixed + per 1M actions; projected to {PROJECTED_ACTIONS / 1e6:.0f}M actions")
    for engine in dict.fromkeys(r["engine"] for r in rows):
        mine = [r for r in rows if r["engine"] == engine]
        for metric in ("fit_s", "fit_cpu_s", "fit_peak_mb"):
            found = per_million(mine, metric)
            if found is None:
                print(f"{engine} {metric}: one size only, nothing to fit")
                continue
            fixed, per_1m = found
            projected = fixed + per_1m * PROJECTED_ACTIONS / 1e6
            fits.setdefault(engine, {})[metric] = {
                "fixed": round(fixed, 2),
                "per_1M_actions": round(per_1m, 3),
                "projected_100M": round(projected, 1),
            }
            print(
                f"{engine:>10} {metric:>12}: {fixed:9.2f} + {per_1m:9.3f} per 1M actions "
                f"-> {projected:,.1f} at 100M"
            )
    return fits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--actions", default="1000000,3000000,10000000")
    parser.add_argument("--engines", default="popularity,ials,ncf")
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--actions-per-user", type=int, default=10)
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--sample", type=int, default=5000, help="evaluated users per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--params",
        type=json.loads,
        default={},
        help='Parameters over the engines\' defaults, as JSON: {"ncf": {"head_sample": 0}}.',
    )
    parser.add_argument("--out", type=Path, help="Also write the rows and fits as JSON here.")
    parser.add_argument(
        "--fit",
        type=Path,
        nargs="+",
        help="Measure nothing: fit the rows of these --out files together.",
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("DATA", "ENGINE", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        data_file, engine, out = args.child
        row = fit_and_measure(Path(data_file), engine, args.seed, args.params.get(engine, {}))
        Path(out).write_text(json.dumps(row))
        return
    if args.fit:
        report([row for path in args.fit for row in json.loads(path.read_text())["rows"]])
        return
    engines = [name for name in args.engines.split(",") if name]
    rows = []
    for size in args.actions.split(","):
        rows += measure(int(size), engines, args)
    fits = report(rows)
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "fits": fits}, indent=2) + "\n")


if __name__ == "__main__":
    main()
