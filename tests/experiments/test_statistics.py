from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.experiments.statistics import (
    clustered_rate,
    decided,
    difference,
    msprt_ratio,
)


def test_a_rate_is_a_ratio_of_sums_with_the_clustered_variance() -> None:
    clicked = np.array([1.0, 0.0, 2.0])
    shown = np.array([2.0, 1.0, 2.0])
    rate = clustered_rate(clicked, shown)
    assert rate.value == pytest.approx(3 / 5)
    # residuals y - R x: 1 - 1.2, 0 - 0.6, 2 - 1.2 -> 0.04 + 0.36 + 0.64 = 1.04
    assert rate.variance == pytest.approx(3 / 2 * 1.04 / 25)
    low, high = rate.interval
    assert low < rate.value < high


def test_no_visitors_is_a_zero_rate_without_error() -> None:
    rate = clustered_rate(np.array([]), np.array([]))
    assert rate.value == 0.0 and rate.variance == 0.0


def test_the_ratio_grows_with_evidence_and_is_small_without_it() -> None:
    assert msprt_ratio(0.0, 1e-4, 0.01) < 1.0
    assert msprt_ratio(0.05, 1e-4, 0.01) > msprt_ratio(0.02, 1e-4, 0.01) > 1.0
    assert math.isfinite(msprt_ratio(10.0, 1e-12, 0.01))


def test_peeking_after_every_batch_keeps_false_verdicts_below_alpha() -> None:
    # A/A tests: both arms click at 10 %. Looking after every 50 visitors per arm, the share
    # of experiments that ever reach a verdict stays at most alpha (plus sampling noise).
    rng = np.random.default_rng(0)
    alpha, runs, looks, batch = 0.05, 200, 40, 50
    false = 0
    for _ in range(runs):
        a_shown, b_shown = rng.integers(1, 4, size=(2, looks * batch))
        a_clicked = rng.binomial(a_shown, 0.1)
        b_clicked = rng.binomial(b_shown, 0.1)
        for look in range(1, looks + 1):
            n = look * batch
            a = clustered_rate(a_clicked[:n].astype(float), a_shown[:n].astype(float))
            b = clustered_rate(b_clicked[:n].astype(float), b_shown[:n].astype(float))
            if decided(difference(b, a, 0.02), alpha, (n, n)) is not None:
                false += 1
                break
    assert false / runs <= alpha + 0.03


def test_a_real_difference_is_found() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    shown = rng.integers(1, 4, size=(2, n)).astype(float)
    control = clustered_rate(rng.binomial(shown[0].astype(int), 0.10).astype(float), shown[0])
    better = clustered_rate(rng.binomial(shown[1].astype(int), 0.13).astype(float), shown[1])
    assert decided(difference(better, control, 0.02), 0.05, (n, n)) == "better"
    assert decided(difference(control, better, 0.02), 0.05, (n, n)) == "worse"


def test_no_verdict_on_too_few_visitors() -> None:
    control = clustered_rate(np.array([0.0, 1.0] * 10), np.ones(20))
    better = clustered_rate(np.array([1.0] * 19 + [0.0]), np.ones(20))
    diff = difference(better, control, 0.2)
    assert diff.likelihood_ratio > 1 / 0.05  # the data alone would decide...
    assert decided(diff, 0.05, (20, 20)) is None  # ...but 20 visitors are too few to trust
    assert decided(diff, 0.05, (30, 30)) == "better"
