"""Engines compared in the simulator: per seed a marketplace, trained engines, the same episodes.

Each seed generates its own marketplace (the config with that seed), trains every engine on
it the production way, and runs episodes `0..episodes-1` of one environment for each engine,
so engines face the same visitors and searches. The return of an episode is the sum of its
slot rewards; `mean_return` averages episodes over all seeds, and `ci95` is the 95 %
t-interval of the per-seed means (with a single seed, of the episode returns).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from recommender.activity.usage import InteractionWeights
from recommender.arrays import DoubleArray
from recommender.contract.rewards import RewardValues
from recommender.engines import canonical_name
from recommender.engines.base import Model
from recommender.progress import Progress, counted, quiet
from recommender.simulation.environment import MarketplaceEnv
from recommender.simulation.online import OnlineSchedule, train_online
from recommender.simulation.policies import EnginePolicy, Policy
from recommender.simulation.rollout import Rollout, rollout
from recommender.simulation.training import fit_engine, marketplace_data
from recommender.synthetic.generator import SynthConfig, SyntheticMarketplace, generate

# A policy that is not an engine, built for each seed's marketplace (it may read the truth).
Reference = Callable[[SyntheticMarketplace], Policy]
FALLBACK = "popularity"
# The engine that can go on learning from the panels it shows.
ONLINE_ENGINE = "rl"
# Offset of the seed of the environment online training plays in.
PRACTICE = 1_000_003
_REPORT_EVERY = 25  # episodes between progress calls


def _episode_progress(
    progress: Progress, start: int, total: int, episodes: int, label: str
) -> Callable[[int], None]:
    """A rollout's per-episode hook that reports every few episodes, from `start` units (a
    unit is one fit or one episode)."""

    def advance(finished: int) -> None:
        if finished % _REPORT_EVERY == 0 or finished == episodes:
            counted(progress, start + finished, total, label)

    return advance


def t_interval(
    values: Sequence[float] | DoubleArray, confidence: float = 0.95
) -> tuple[float, float]:
    """The t-interval of the mean of `values`; a point when there is a single value."""
    data = np.asarray(values, dtype=np.float64)
    mean = float(data.mean())
    if data.shape[0] < 2:
        return mean, mean
    half = float(
        stats.t.ppf((1 + confidence) / 2, data.shape[0] - 1)
        * data.std(ddof=1)
        / np.sqrt(data.shape[0])
    )
    return mean - half, mean + half


@dataclass
class _Tally:
    per_seed: list[float] = field(default_factory=list)
    returns: list[DoubleArray] = field(default_factory=list)
    shown: int = 0
    clicks: int = 0
    orders: int = 0
    dropped: int = 0
    fit_s: float = 0.0
    run_s: float = 0.0

    def add(self, run: Rollout, fit_s: float, run_s: float) -> None:
        self.per_seed.append(float(run.returns.mean()))
        self.returns.append(run.returns)
        self.shown += run.shown
        self.clicks += run.clicks
        self.orders += run.orders
        self.dropped += run.dropped
        self.fit_s += fit_s
        self.run_s += run_s


@dataclass(frozen=True)
class EngineResult:
    """One engine's (or reference policy's) figures over every seed."""

    engine: str
    mean_return: float
    ci95: tuple[float, float]
    ctr: float  # clicks per service shown
    order_rate: float  # orders per service shown
    episodes: int
    shown: int
    clicks: int
    orders: int
    dropped: int
    per_seed: tuple[float, ...]  # mean return on each seed's marketplace
    fit_s: float
    run_s: float

    @classmethod
    def of(cls, engine: str, tally: _Tally) -> EngineResult:
        returns = np.concatenate(tally.returns)
        spread = tally.per_seed if len(tally.per_seed) > 1 else returns
        shown = max(tally.shown, 1)
        return cls(
            engine=engine,
            mean_return=float(returns.mean()),
            ci95=t_interval(spread),
            ctr=tally.clicks / shown,
            order_rate=tally.orders / shown,
            episodes=int(returns.shape[0]),
            shown=tally.shown,
            clicks=tally.clicks,
            orders=tally.orders,
            dropped=tally.dropped,
            per_seed=tuple(tally.per_seed),
            fit_s=tally.fit_s,
            run_s=tally.run_s,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "mean_return": self.mean_return,
            "ci95": list(self.ci95),
            "ctr": self.ctr,
            "order_rate": self.order_rate,
            "episodes": self.episodes,
            "shown": self.shown,
            "clicks": self.clicks,
            "orders": self.orders,
            "dropped": self.dropped,
            "per_seed": list(self.per_seed),
            "fit_s": round(self.fit_s, 3),
            "run_s": round(self.run_s, 3),
        }


@dataclass(frozen=True)
class SimulationReport:
    results: dict[str, EngineResult]
    config: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "results": {name: result.to_json() for name, result in self.results.items()},
            "config": self.config,
        }


def simulate(
    config: SynthConfig,
    engines: Sequence[str],
    seeds: Sequence[int],
    episodes: int,
    steps: int = 5,
    *,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    panel_id: str = "v1",
    rewards: RewardValues | None = None,
    weights: InteractionWeights | None = None,
    device: str = "cpu",
    references: Mapping[str, Reference] | None = None,
    online: OnlineSchedule | None = None,
    browse: bool = False,
    progress: Progress = quiet,
) -> SimulationReport:
    """Train each engine on each seed's marketplace and run the same episodes for all.

    Engine names are checked before any work (`UnknownEngineError`); `params` holds one
    mapping of hyper-parameters per engine name. `references` are policies that are not
    engines (the oracle, say), built per marketplace and run on the same episodes after them.
    With an `online` schedule the `rl` engine, after its offline fit, also learns from
    episodes it plays in an environment of another seed than the one it is measured in.
    With `browse` the visitors also open search results beside each panel (`MarketplaceEnv`).
    """
    names = list(dict.fromkeys(canonical_name(name) for name in engines))
    extra = dict(references or {})
    if not names and not extra:
        raise ValueError("name at least one engine")
    if set(names) & set(extra):
        raise ValueError(f"references named like engines: {sorted(set(names) & set(extra))}")
    if not seeds:
        raise ValueError("name at least one seed")
    if episodes < 1:
        raise ValueError("run at least one episode")
    chosen = {canonical_name(name): dict(values) for name, values in (params or {}).items()}
    rewards = rewards or RewardValues()
    tallies = {name: _Tally() for name in [*names, *extra]}
    total = len(seeds) * (len(names) + len(extra)) * (episodes + 1)
    done = 0
    for seed_number, seed in enumerate(seeds, start=1):
        prefix = f"seed {seed} ({seed_number}/{len(seeds)})"
        counted(progress, done, total, f"{prefix}: marketplace")
        market = generate(config.model_copy(update={"seed": seed}))
        logged = marketplace_data(market, weights, rewards)
        data = logged.interactions
        env = MarketplaceEnv(
            market, steps=steps, panel_id=panel_id, rewards=rewards, seed=seed, browse=browse
        )
        began = time.perf_counter()
        fallback: Model = fit_engine(FALLBACK, data, chosen.get(FALLBACK), seed=seed)
        fallback_s = time.perf_counter() - began
        for name in names:
            counted(progress, done, total, f"{prefix}: fitting {name}")
            if name == FALLBACK:
                model, fit_s = fallback, fallback_s
            elif name == ONLINE_ENGINE and online is not None and online.episodes > 0:
                began = time.perf_counter()
                practice = MarketplaceEnv(
                    market,
                    steps=steps,
                    panel_id=panel_id,
                    rewards=rewards,
                    seed=seed + PRACTICE,
                    browse=browse,
                )
                model = train_online(
                    data,
                    practice,
                    params=chosen.get(name),
                    transitions=logged.transitions,
                    fallback=fallback,
                    schedule=online,
                    seed=seed,
                    device=device,
                )
                fit_s = time.perf_counter() - began
            else:
                began = time.perf_counter()
                model = fit_engine(
                    name,
                    data,
                    chosen.get(name),
                    seed=seed,
                    device=device,
                    transitions=logged.transitions,
                )
                fit_s = time.perf_counter() - began
            done += 1
            label = f"{prefix}: {name}"
            counted(progress, done, total, label)
            advance = _episode_progress(progress, done, total, episodes, label)
            began = time.perf_counter()
            run = rollout(env, EnginePolicy(model, fallback), episodes, on_episode=advance)
            tallies[name].add(run, fit_s, time.perf_counter() - began)
            done += episodes
        for name, build in extra.items():
            label = f"{prefix}: {name}"
            done += 1
            counted(progress, done, total, label)
            advance = _episode_progress(progress, done, total, episodes, label)
            began = time.perf_counter()
            run = rollout(env, build(market), episodes, on_episode=advance)
            tallies[name].add(run, 0.0, time.perf_counter() - began)
            done += episodes
    return SimulationReport(
        results={name: EngineResult.of(name, tally) for name, tally in tallies.items()},
        config={
            "marketplace": config.model_dump(mode="json", exclude={"seed"}),
            "seeds": [int(s) for s in seeds],
            "episodes": episodes,
            "steps": steps,
            "panel_id": panel_id,
            "rewards": dict(rewards.as_dict()),
            "params": {name: chosen.get(name, {}) for name in names},
            "references": list(extra),
            "online": None if online is None else dataclasses.asdict(online),
            "browse": browse,
        },
    )
