"""The collaborative score the agent corrects: an implicit-ALS model of the same data, how far
its scores and the agent's spread, and the share of the agent's scores chosen on validation.

The agent reads the order of a user's recent uses; where order says nothing (a random split,
a catalogue browsed without a path), a policy trained on next uses ranks little better than
popularity, while a matrix factorisation of everything the user used ranks well. Served
scores are `(1 - c) * collaborative / spread + c * agent / spread`: with `c = 0` the agent
ranks exactly as implicit ALS does, with `c = 1` it is the agent alone, and `c` is the share
that ranks the validation fold best.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from recommender.arrays import FloatArray
from recommender.engines.base import Model, Query, TrainingOptions
from recommender.engines.ials import IALSEngine, IALSModel
from recommender.engines.rl.params import RLParams
from recommender.interactions import Interactions

# Shares of the agent tried on validation; the ends are each model alone.
CORRECTIONS = (0.0, 0.15, 0.3, 0.5, 0.7, 0.85, 1.0)
# Without a validation fold nothing says which model ranks better: both count the same.
EVEN = 0.5
# Users whose scores measure each model's spread: enough for a stable figure, cheap to score.
SPREAD_USERS = 256


def collaborative_model(data: Interactions, params: RLParams, seed: int) -> IALSModel | None:
    """The implicit-ALS model the agent corrects, or None when the parameters turn it off."""
    if params.collaborative_factors == 0 or data.nnz == 0:
        return None
    engine = IALSEngine(
        {
            "factors": params.collaborative_factors,
            "regularization": params.collaborative_regularization,
            "alpha": params.collaborative_alpha,
            "threads": params.threads,
        }
    )
    return engine.fit(data, TrainingOptions(seed=seed))


def sample_queries(data: Interactions, seed: int) -> list[Query]:
    """Queries of up to `SPREAD_USERS` users with a history, as serving would ask them."""
    active = np.flatnonzero(np.diff(data.matrix.indptr) > 0)
    rng = np.random.default_rng([seed, 19])
    chosen = np.sort(rng.permutation(active)[:SPREAD_USERS])
    return [
        Query(
            user_id=int(data.user_ids[u]),
            history=data.history(int(u)),
            scientific_domains=data.user_feature_ids("scientific_domains", int(u)),
            categories=data.user_feature_ids("categories", int(u)),
        )
        for u in chosen
    ]


def spread(scores: FloatArray) -> float:
    """The typical spread of one query's scores across services (mean standard deviation
    of the rows), never zero so that it can divide."""
    if scores.size == 0:
        return 1.0
    rows = np.nanstd(np.where(np.isfinite(scores), scores, np.nan), axis=1)
    value = float(np.nanmean(rows)) if np.isfinite(rows).any() else 1.0
    return max(value, 1e-6)


def best_correction(
    model_with: Callable[[float], Model],
    evaluate: Callable[[Model], Mapping[str, float]],
    metric: str,
) -> tuple[float, dict[float, float]]:
    """The share in `CORRECTIONS` whose model scores best on `metric` (the smallest share on
    ties, the collaborative ranking being the cheaper to serve), and every share's figure."""
    figures = {c: float(evaluate(model_with(c))[metric]) for c in CORRECTIONS}
    # A figure that is not a number (a diverged agent) never wins.
    best = max(CORRECTIONS, key=lambda c: (np.nan_to_num(figures[c], nan=-np.inf), -c))
    return best, figures
