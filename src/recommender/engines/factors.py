"""Latent-factor models: a score is the dot product of a user vector and an item vector (plus
an item bias). Shared by `ials` and `bpr`, which differ in how they learn the vectors and in
how they fold in a user they never saw.

A known user is scored from the stored vector; an unknown user with a history gets a vector
folded in from it (engine-specific); one with neither falls back to popularity.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import FloatArray, IntArray
from recommender.engines.base import Artifact, Model, Query
from recommender.engines.lookup import IdIndex, gather, history_positions, positions

Matrix = NDArray[np.float32]


class FactorModel(Model):
    engine: ClassVar[str]

    def __init__(
        self,
        user_ids: IntArray,
        user_factors: Matrix,
        item_ids: IntArray,
        item_factors: Matrix,
        item_bias: FloatArray,
        popularity: FloatArray,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.user_ids = user_ids
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_ids = item_ids
        self.item_index = IdIndex(item_ids)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.item_bias = np.asarray(item_bias, dtype=np.float32)
        self.popularity = popularity
        self.meta = dict(meta or {})

    @abstractmethod
    def fold_in(self, history: IntArray) -> FloatArray:
        """A user vector for someone known only by the item positions they used (non-empty)."""

    def _user_vector(self, query: Query) -> FloatArray | None:
        if query.user_id is not None:
            row = positions(self.user_ids, [query.user_id])[0]
            if row >= 0:
                return np.asarray(self.user_factors[row])
        history = history_positions(self.item_index, query)
        return self.fold_in(history) if history.shape[0] else None

    def score(self, query: Query, items: IntArray) -> FloatArray:
        pos = self.item_index(items)
        vector = self._user_vector(query)
        if vector is None:
            return gather(self.popularity, pos)
        if 4 * pos.shape[0] >= self.item_ids.shape[0]:
            # One contiguous pass over every item vector beats gathering most of them.
            return gather(self.item_factors @ vector + self.item_bias, pos)
        known = np.maximum(pos, 0)
        out = self.item_factors[known] @ vector + self.item_bias[known]
        out[pos < 0] = np.nan
        return out.astype(np.float32, copy=False)

    def score_all(self, query: Query) -> tuple[IntArray, FloatArray]:
        vector = self._user_vector(query)
        if vector is None:
            return self.item_ids, np.asarray(self.popularity, dtype=np.float32)
        return self.item_ids, self.item_factors @ vector + self.item_bias

    def score_batch(self, queries: Sequence[Query], items: IntArray) -> FloatArray:
        pos = self.item_index(items)
        rows = positions(
            self.user_ids, [q.user_id if q.user_id is not None else -(2**62) for q in queries]
        )
        vectors = np.zeros((len(queries), self.item_factors.shape[1]), dtype=np.float32)
        vectors[rows >= 0] = self.user_factors[rows[rows >= 0]]
        cold = np.zeros(len(queries), dtype=bool)
        for n in np.flatnonzero(rows < 0):
            history = history_positions(self.item_index, queries[int(n)])
            if history.shape[0]:
                vectors[n] = self.fold_in(history)
            else:
                cold[n] = True
        known = np.maximum(pos, 0)
        scores = vectors @ self.item_factors[known].T + self.item_bias[known]
        scores[cold] = self.popularity[known]
        scores[:, pos < 0] = np.nan
        return scores.astype(np.float32, copy=False)

    def to_artifact(self) -> Artifact:
        return Artifact(
            arrays={
                "user_ids": self.user_ids,
                "user_factors": self.user_factors,
                "item_ids": self.item_ids,
                "item_factors": self.item_factors,
                "item_bias": self.item_bias,
                "popularity": self.popularity,
            },
            meta={"engine": self.engine, **self.meta},
        )

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        a = artifact.arrays
        return cls(
            user_ids=a["user_ids"],
            user_factors=a["user_factors"],
            item_ids=a["item_ids"],
            item_factors=a["item_factors"],
            item_bias=a["item_bias"],
            popularity=a["popularity"],
            meta={key: value for key, value in artifact.meta.items() if key != "engine"},
        )
