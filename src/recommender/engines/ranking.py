"""The top of a model's ranking over candidate items: what serving and the simulator show."""

from __future__ import annotations

import numpy as np

from recommender.arrays import FloatArray, IntArray
from recommender.engines.base import Model, Query


def rank(model: Model, query: Query, items: IntArray, k: int) -> tuple[IntArray, FloatArray]:
    """The k best items by the model's scores, best first (ties by id); items it cannot score
    are left out."""
    if items.shape[0] == 0 or k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    scores = model.score(query, items)
    finite = np.flatnonzero(np.isfinite(scores))
    top = finite[best_k(scores[finite], items[finite], k)]
    return items[top], scores[top]


def best_k(scores: FloatArray, ids: IntArray, k: int) -> IntArray:
    """Positions of the k highest of finite `scores`, best first, ties by id, also among
    the ties at the k-th score (a partition alone would take any of them)."""
    if scores.shape[0] > k:
        # Partitioning keeps this linear in the number of candidates.
        kth = np.partition(scores, scores.shape[0] - k)[scores.shape[0] - k]
        above = np.flatnonzero(scores > kth)
        tied = np.flatnonzero(scores == kth)
        tied = tied[np.argsort(ids[tied], kind="stable")][: k - above.shape[0]]
        top = np.concatenate([above, tied])
    else:
        top = np.arange(scores.shape[0])
    return top[np.lexsort((ids[top], -scores[top]))]
