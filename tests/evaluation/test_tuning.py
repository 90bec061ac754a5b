from __future__ import annotations

import numpy as np

from recommender.evaluation.datasets import EvalDataset
from recommender.evaluation.protocols import split
from recommender.evaluation.tuning import candidates, tune


def test_small_grids_are_tried_whole_and_large_ones_sampled() -> None:
    space = {"a": [1, 2], "b": [True, False]}
    assert len(candidates("ease", 10, seed=0, space=space)) == 4
    picked = candidates("ease", 3, seed=0, space={"a": list(range(10)), "b": [1, 2]})
    assert len(picked) == 3
    assert picked == candidates("ease", 3, seed=0, space={"a": list(range(10)), "b": [1, 2]})
    assert len({tuple(sorted(p.items())) for p in picked}) == 3


def test_fixed_values_are_not_searched() -> None:
    picked = candidates("ials", 100, seed=0, fixed={"factors": 8, "iterations": 3})
    assert {p["factors"] for p in picked} == {8}
    assert {p["iterations"] for p in picked} == {3}


def test_tuning_scores_only_the_validation_fold() -> None:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(30), 6)
    items = np.concatenate([rng.choice(12, 6, replace=False) + 12 * (u % 2) for u in range(30)])
    n = users.shape[0]
    data = EvalDataset(
        name="two-blocks",
        users=users,
        items=items,
        weights=np.ones(n, dtype=np.float32),
        timestamps=np.arange(n, dtype=np.float64),
        ratings=np.full(n, np.nan),
    )
    folds = split("temporal-loo", data)
    result = tune("ease", folds, trials=3, k=5, metric="HR")
    assert len(result.trials) == 3
    assert result.metric == "HR@5"
    assert result.best.metrics["HR@5"] == max(t.metrics["HR@5"] for t in result.trials)
    # Every held-out test pair stays out of what tuning trains on.
    test_pairs = folds.test.heldout.relevant
    validation_train = folds.validation.train.matrix[folds.test.heldout.users]
    assert validation_train.multiply(test_pairs).nnz == 0
