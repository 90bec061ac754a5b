"""Ranking metrics over top-K lists: per-user accuracy values and catalogue-wide exposure.

Accuracy metrics take `hits`, a boolean matrix with one row per evaluated user and one column
per list position (column 0 is the top), and `n_relevant`, how many held-out items each user
has. They return one value per user; a user with nothing held out scores 0 everywhere.
Exposure metrics take the top-K lists themselves (item positions, -1 where a list is short).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import IntArray

BoolMatrix = NDArray[np.bool_]
Values = NDArray[np.float64]
RankingMetric = Callable[[BoolMatrix, IntArray], Values]


def _discounts(k: int) -> Values:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _safe_divide(numerator: Values, denominator: NDArray[np.float64] | IntArray) -> Values:
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def hit_rate(hits: BoolMatrix, n_relevant: IntArray) -> Values:
    """1 where at least one held-out item is in the list (HR@K)."""
    return np.asarray(hits.any(axis=1), dtype=np.float64)


def precision(hits: BoolMatrix, n_relevant: IntArray) -> Values:
    """Share of the K positions that hold a held-out item."""
    k = hits.shape[1]
    return hits.sum(axis=1, dtype=np.float64) / k if k else np.zeros(hits.shape[0])


def recall(hits: BoolMatrix, n_relevant: IntArray) -> Values:
    """Share of the held-out items that made the list (over all of them, not min(n, K))."""
    return _safe_divide(hits.sum(axis=1, dtype=np.float64), n_relevant)


def ndcg(hits: BoolMatrix, n_relevant: IntArray) -> Values:
    """Binary-gain DCG over the ideal DCG of min(n_relevant, K) hits at the top."""
    k = hits.shape[1]
    discounts = _discounts(k)
    dcg = hits.astype(np.float64) @ discounts
    ideal_cumulative = np.concatenate(([0.0], np.cumsum(discounts)))
    ideal = ideal_cumulative[np.minimum(np.asarray(n_relevant), k)]
    return _safe_divide(dcg, ideal)


def reciprocal_rank(hits: BoolMatrix, n_relevant: IntArray) -> Values:
    """1 / (position of the first hit, counted from 1); 0 when nothing hit (MRR@K)."""
    first = np.argmax(hits, axis=1)
    found = hits.any(axis=1)
    return np.where(found, 1.0 / (first + 1.0), 0.0)


def average_precision(hits: BoolMatrix, n_relevant: IntArray) -> Values:
    """Precision at each hit, summed and divided by min(n_relevant, K) (MAP@K)."""
    k = hits.shape[1]
    as_float = hits.astype(np.float64)
    precision_at = np.cumsum(as_float, axis=1) / np.arange(1, k + 1)
    return _safe_divide((precision_at * as_float).sum(axis=1), np.minimum(n_relevant, k))


RANKING_METRICS: dict[str, RankingMetric] = {
    "HR": hit_rate,
    "NDCG": ndcg,
    "Recall": recall,
    "Precision": precision,
    "MRR": reciprocal_rank,
    "MAP": average_precision,
}


def exposure(top_items: IntArray, n_items: int) -> NDArray[np.int64]:
    """How many lists each catalogue item appears in (padding -1 ignored)."""
    shown = top_items[top_items >= 0]
    return np.bincount(shown, minlength=n_items).astype(np.int64)


def coverage(top_items: IntArray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    if n_items == 0:
        return 0.0
    return float(np.count_nonzero(exposure(top_items, n_items)) / n_items)


def gini(top_items: IntArray, n_items: int) -> float:
    """Gini coefficient of exposure over the whole catalogue: 0 when every item is shown
    equally often, (n - 1) / n when one item takes every slot."""
    counts = np.sort(exposure(top_items, n_items)).astype(np.float64)
    total = counts.sum()
    if n_items == 0 or total == 0:
        return 0.0
    index = np.arange(1, n_items + 1, dtype=np.float64)
    return float(((2 * index - n_items - 1) * counts).sum() / (n_items * total))


EXPOSURE_METRICS: dict[str, Callable[[IntArray, int], float]] = {
    "Coverage": coverage,
    "Gini": gini,
}

METRIC_NAMES: tuple[str, ...] = (*RANKING_METRICS, *EXPOSURE_METRICS)


def metric_label(name: str, k: int) -> str:
    return f"{name}@{k}"
