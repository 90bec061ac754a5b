"""How much logged panels count when an engine learns from them."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.transitions import MAX_WEIGHT, PAD, arm_balanced_weights


def test_panels_outside_experiments_count_once() -> None:
    weights = arm_balanced_weights(np.array([PAD, PAD]), np.array([1.0, 1.0]))
    assert weights.tolist() == [1.0, 1.0]


def test_an_even_experiment_changes_nothing() -> None:
    weights = arm_balanced_weights(np.array([3, 3, 3, 3]), np.full(4, 0.25))
    assert weights.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_each_experiment_arm_weighs_alike_and_each_experiment_keeps_its_total() -> None:
    # Experiment 1: arm a (0.9) served 9 panels, arm b (0.1) one; experiment 2 is even.
    ids = np.array([1] * 10 + [2, 2])
    shares = np.array([0.9] * 9 + [0.1] + [0.5, 0.5])
    weights = arm_balanced_weights(ids, shares)
    assert weights[:9].sum() == pytest.approx(weights[9])
    assert weights[:10].sum() == pytest.approx(10.0)
    assert weights[10:].tolist() == [1.0, 1.0]


def test_a_rare_arm_is_capped() -> None:
    # One panel of a 1 % arm among 99 of the other would weigh 50 times the mean.
    ids = np.full(100, 4)
    shares = np.array([0.99] * 99 + [0.01])
    weights = arm_balanced_weights(ids, shares)
    assert weights.sum() == pytest.approx(100.0)
    assert weights[99] <= MAX_WEIGHT + 1e-6
    assert weights[99] > weights[0]
