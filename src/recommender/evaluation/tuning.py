"""Hyper-parameter search: candidates from a small grid per engine, each fitted on a split's
validation fold (carved out of the training data) and scored there, never on the test."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recommender.engines import canonical_name
from recommender.evaluation.metrics import METRIC_NAMES
from recommender.evaluation.protocols import Split
from recommender.evaluation.runner import run_engine

# What `recommender tune` explores; fixed values can be pinned with --param.
SEARCH_SPACES: dict[str, dict[str, list[Any]]] = {
    "popularity": {"smoothing": [0.0, 5.0, 20.0]},
    "itemknn": {
        "neighbours": [20, 50, 100, 200, 500],
        "shrink": [0.0, 10.0, 50.0, 200.0],
        "normalise": [True, False],
    },
    "ease": {
        "l2": [50.0, 100.0, 200.0, 350.0, 500.0, 750.0, 1000.0, 1500.0, 2500.0, 5000.0],
        "dropout": [0.0, 0.1, 0.25, 0.5, 0.67, 0.8],
    },
    "ials": {
        "factors": [64, 128, 192, 256],
        "regularization": [5.0, 20.0, 50.0, 100.0, 200.0, 500.0],
        "alpha": [1.0, 2.0, 5.0, 10.0, 20.0],
    },
    "bpr": {
        "factors": [64, 128],
        "learning_rate": [0.002, 0.005, 0.01],
        "l2": [1e-5, 1e-4, 1e-3],
    },
}


@dataclass
class Trial:
    params: dict[str, Any]
    metrics: dict[str, float]
    fit_s: float


@dataclass
class TuningResult:
    engine: str
    metric: str
    trials: list[Trial] = field(default_factory=list)

    @property
    def best(self) -> Trial:
        # The first of equally good trials wins, so ties keep the earlier (listed) candidate.
        return max(self.trials, key=lambda trial: trial.metrics[self.metric])


def candidates(
    engine: str,
    trials: int,
    seed: int,
    fixed: Mapping[str, Any] | None = None,
    space: Mapping[str, list[Any]] | None = None,
) -> list[dict[str, Any]]:
    """The whole grid when it has at most `trials` points, else `trials` of them drawn at
    random (without replacement, deterministic under `seed`); `fixed` values are not searched."""
    fixed = dict(fixed or {})
    grid_space = dict(space if space is not None else SEARCH_SPACES.get(canonical_name(engine), {}))
    for key in fixed:
        grid_space.pop(key, None)
    keys = sorted(grid_space)
    grid = [
        dict(zip(keys, values, strict=True))
        for values in itertools.product(*(grid_space[k] for k in keys))
    ]
    if len(grid) > trials:
        chosen = np.random.default_rng(seed).choice(len(grid), size=trials, replace=False)
        grid = [grid[int(i)] for i in sorted(chosen)]
    return [{**point, **fixed} for point in grid]


def tune(
    engine: str,
    split: Split,
    *,
    trials: int = 20,
    k: int = 10,
    metric: str = "NDCG",
    seed: int = 0,
    fixed: Mapping[str, Any] | None = None,
    on_trial: Callable[[int, int, Trial | None], None] | None = None,
) -> TuningResult:
    """Try candidate parameters of one engine on the split's validation fold."""
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRIC_NAMES)}")
    label = f"{metric}@{k}"
    result = TuningResult(engine=canonical_name(engine), metric=label)
    points = candidates(engine, trials, seed, fixed)
    for n, params in enumerate(points):
        if on_trial is not None:
            on_trial(n, len(points), None)
        run = run_engine(engine, params, split.validation, k=k, seed=seed, metrics=[metric])
        trial = Trial(params=params, metrics=run.metrics, fit_s=run.fit_s)
        result.trials.append(trial)
        if on_trial is not None:
            on_trial(n + 1, len(points), trial)
    return result
