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
    if finite.shape[0] > k:
        # argpartition keeps this linear in the number of candidates.
        top = finite[np.argpartition(-scores[finite], k - 1)[:k]]
    else:
        top = finite
    top = top[np.lexsort((items[top], -scores[top]))]
    return items[top], scores[top]
