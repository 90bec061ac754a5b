"""Rates of clustered binary outcomes, their intervals, and an always-valid sequential test.

Visitors are randomised, not impressions: one visitor's impressions are correlated, so a rate
(clicked impressions / impressions) is a ratio of sums over visitors and its variance is the
cluster-robust (delta-method) one. Treating impressions as independent would make intervals
too narrow and verdicts too eager.

The verdict comes from a mixture sequential probability ratio test (mSPRT; Johari, Pekelis
and Walsh, "Always valid inference", 2017) on the difference of two rates, with a normal
mixture of scale `min_effect` over the alternative. Its likelihood ratio may be looked at
after every visitor: under no difference the chance that it ever reaches 1/alpha is at most
alpha (Ville's inequality), so watching the report does not inflate false verdicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from recommender.arrays import DoubleArray

Z95 = 1.959963984540054
# Fewer visitors than this per arm and the variance estimate is too rough to test on.
MIN_VISITORS = 30


@dataclass(frozen=True)
class Rate:
    """A ratio of sums over visitors with its cluster-robust variance."""

    numerator: float
    denominator: float
    variance: float

    @property
    def value(self) -> float:
        return self.numerator / self.denominator if self.denominator > 0 else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        half = Z95 * math.sqrt(self.variance)
        return (self.value - half, self.value + half)


def clustered_rate(successes: DoubleArray, trials: DoubleArray) -> Rate:
    """The rate sum(successes) / sum(trials) over visitors (one entry each) and its variance.

    Var(R) ~ n / (n - 1) * sum((y_i - R x_i)^2) / (sum x)^2, the delta method for a ratio
    estimator with visitors as clusters.
    """
    y = np.asarray(successes, dtype=np.float64)
    x = np.asarray(trials, dtype=np.float64)
    n = y.shape[0]
    total = float(x.sum())
    if n == 0 or total <= 0:
        return Rate(0.0, 0.0, 0.0)
    rate = float(y.sum()) / total
    if n < 2:
        return Rate(float(y.sum()), total, 0.0)
    residuals = y - rate * x
    variance = n / (n - 1) * float(residuals @ residuals) / total**2
    return Rate(float(y.sum()), total, variance)


@dataclass(frozen=True)
class Difference:
    """Treatment minus control, with its interval and the sequential test's statistic."""

    value: float
    variance: float
    likelihood_ratio: float

    @property
    def interval(self) -> tuple[float, float]:
        half = Z95 * math.sqrt(self.variance)
        return (self.value - half, self.value + half)

    @property
    def always_valid_p(self) -> float:
        """An upper bound of the always-valid p-value at this look (1 / the ratio)."""
        return min(1.0, 1.0 / self.likelihood_ratio) if self.likelihood_ratio > 0 else 1.0


def msprt_ratio(difference: float, variance: float, min_effect: float) -> float:
    """The normal-mixture SPRT likelihood ratio for H0: no difference.

    With the estimate d ~ N(theta, V) and theta ~ N(0, tau^2) under the alternative:
    sqrt(V / (V + tau^2)) * exp(d^2 tau^2 / (2 V (V + tau^2))).
    """
    if variance <= 0:
        return 1.0
    tau2 = min_effect**2
    exponent = difference**2 * tau2 / (2 * variance * (variance + tau2))
    # Capped so a huge effect reads as a huge ratio, not an overflow.
    return math.sqrt(variance / (variance + tau2)) * math.exp(min(exponent, 700.0))


def difference(treatment: Rate, control: Rate, min_effect: float) -> Difference:
    value = treatment.value - control.value
    variance = treatment.variance + control.variance
    return Difference(value, variance, msprt_ratio(value, variance, min_effect))


Verdict = Literal["better", "worse"]


def decided(diff: Difference, alpha: float, visitors: tuple[int, int]) -> Verdict | None:
    """'better' or 'worse' once the test rejects no difference at level alpha, else None."""
    if min(visitors) < MIN_VISITORS or diff.likelihood_ratio < 1.0 / alpha:
        return None
    return "better" if diff.value > 0 else "worse"
