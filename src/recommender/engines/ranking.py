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


# Candidates of a large array are narrowed by a sample's k-th best first: the k-th best of
# any sample is at most the whole array's, so whatever reaches it holds the top k and all
# their ties. A partition of 10,000 scores cost 50 us, more than the rest of the ranking.
SAMPLED_ABOVE = 1024
SAMPLE_PER_K = 64


def best_k(scores: FloatArray, ids: IntArray, k: int) -> IntArray:
    """Positions of the k highest of finite `scores`, best first, ties by id, also among
    the ties at the k-th score (a partition alone would take any of them)."""
    n = scores.shape[0]
    if n <= k:
        top = np.arange(n)
    else:
        candidates = _reaching_sample_kth(scores, k) if n > SAMPLED_ABOVE else None
        pool = scores if candidates is None else scores[candidates]
        if pool.shape[0] > k:
            # Partitioning keeps this linear in the number of candidates.
            kth = np.partition(pool, pool.shape[0] - k)[pool.shape[0] - k]
            above = np.flatnonzero(pool > kth)
            tied = np.flatnonzero(pool == kth)
            if candidates is not None:
                above, tied = candidates[above], candidates[tied]
            tied = tied[np.argsort(ids[tied], kind="stable")][: k - above.shape[0]]
            top = np.concatenate([above, tied])
        else:
            top = np.arange(n) if candidates is None else candidates
    return top[np.lexsort((ids[top], -scores[top]))]


def _reaching_sample_kth(scores: FloatArray, k: int) -> IntArray | None:
    """Positions of the scores at or above the k-th best of an evenly spaced sample, or None
    when a sample would not be much smaller than the array."""
    n = scores.shape[0]
    step = n // (SAMPLE_PER_K * k)
    if step < 4:
        return None
    sample = scores[::step]
    kth = np.partition(sample, sample.shape[0] - k)[sample.shape[0] - k]
    return np.flatnonzero(scores >= kth)
