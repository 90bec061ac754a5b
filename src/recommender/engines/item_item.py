"""Item-to-item models: a user's score for an item is the summed weight from the items in the
user's history to it. Shared by `itemknn` (sparse neighbour weights) and `ease` (dense).

These models learn no per-user state: known and new users alike are scored from
`query.history`, so a user's newest actions count at once. A returning visitor's last sum is
kept only to be updated by what their history gained or lost since. An empty history falls
back to popularity, the share of training users who used each item.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import ClassVar, NamedTuple, Self

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from recommender.arrays import FloatArray, IntArray
from recommender.engines.base import Artifact, Explanation, LastQuery, Model, Names, Query
from recommender.engines.lookup import (
    IdIndex,
    gather,
    history_matrix,
    history_positions,
    positions,
)
from recommender.lru import MISSING, Lru, Missing

# Dense cells (rows x items) materialised at once while accumulating a Gram matrix.
_CHUNK_CELLS = 8_000_000
# Bytes of summed rows kept for returning visitors (a float32 per item each). A browsing
# visitor's history changes by a service or two between requests, and summing all of a
# 50-service history's rows (40 KB each at 10,000 services) was most of an answer's cost.
RUNNING_BYTES = 64 * 2**20
# Rows added or taken away before a visitor's sum is redone from its history, so rounding
# from the updates never builds up.
MAX_UPDATES = 64


class _Summed(NamedTuple):
    positions: IntArray  # sorted, distinct
    scores: FloatArray  # read-only: callers share it
    updates: int


def gram_blocks(matrix: sp.csr_matrix, block: int) -> Iterator[tuple[slice, NDArray[np.float32]]]:
    """Column blocks of X^T X (items x block), accumulated over dense chunks of users: BLAS on
    dense chunks beats sparse-sparse products on data as dense as MovieLens."""
    n_users, n_items = matrix.shape
    rows = max(1, _CHUNK_CELLS // max(n_items, 1))
    for start in range(0, n_items, block):
        columns = slice(start, min(start + block, n_items))
        out = np.zeros((n_items, columns.stop - columns.start), dtype=np.float32)
        for first in range(0, n_users, rows):
            chunk = matrix[first : first + rows].toarray()
            out += chunk.T @ chunk[:, columns]
        yield columns, out


def _changes(before: IntArray, now: IntArray) -> tuple[IntArray, IntArray]:
    """What sorted, distinct positions gained and lost (`np.setdiff1d` both ways cost twice
    as much on a 50-service history)."""
    if before.shape == now.shape and np.array_equal(before, now):
        return now[:0], now[:0]
    return now[positions(before, now) < 0], before[positions(now, before) < 0]


def sparse_rows(matrix: sp.csr_matrix, rows: IntArray) -> tuple[IntArray, IntArray, FloatArray]:
    """The stored entries of `rows` of a CSR matrix, as (which of `rows`, column, value),
    gathered without a Python loop per row."""
    starts, ends = matrix.indptr[rows], matrix.indptr[rows + 1]
    lengths = ends - starts
    # Entry j of row r sits at starts[r] + j: one range over the total, shifted per row.
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    picked = np.arange(shift.shape[0]) + shift
    which = np.repeat(np.arange(rows.shape[0]), lengths)
    return which, matrix.indices[picked], matrix.data[picked]


def _column(picked: tuple[IntArray, IntArray, FloatArray], column: int, rows: int) -> FloatArray:
    """Each of `rows` rows' weight to `column`, from their entries as `sparse_rows` gives
    them."""
    which, targets, values = picked
    out = np.zeros(rows, dtype=np.float32)
    hit = targets == column
    out[which[hit]] = values[hit]
    return out


class ItemItemModel(Model):
    """Scores = history indicator @ W, where W[i, j] is how much using i suggests j."""

    engine: ClassVar[str]

    def __init__(
        self,
        item_ids: IntArray,
        weights: NDArray[np.float32] | sp.csr_matrix,
        popularity: FloatArray,
        meta: dict[str, float | int] | None = None,
    ) -> None:
        self.item_ids = item_ids
        self.item_index = IdIndex(item_ids)
        self.weights = weights
        self.popularity = popularity
        self.meta = dict(meta or {})
        self._history_of: LastQuery[IntArray] = LastQuery()
        self._running: Lru[str, _Summed] = Lru(max(RUNNING_BYTES // max(4 * item_ids.size, 1), 1))
        self._running_lock = threading.Lock()

    def _history(self, query: Query) -> IntArray:
        known = self._history_of.get(query)
        if known is not None:
            return known
        return self._history_of.keep(query, history_positions(self.item_index, query))

    def _all_scores(self, history: IntArray, visitor: str | None = None) -> FloatArray:
        """The history's rows summed, from the visitor's last sum when fewer rows changed
        than the history holds."""
        if history.shape[0] == 0:
            return self.popularity
        before: _Summed | Missing = MISSING
        if visitor is not None:
            with self._running_lock:
                before = self._running.get(visitor)
        if not isinstance(before, Missing) and before.updates < MAX_UPDATES:
            added, removed = _changes(before.positions, history)
            changes = added.shape[0] + removed.shape[0]
            if changes == 0:
                return before.scores
            if changes < history.shape[0]:
                total = before.scores.copy()
                self._add_rows(total, added)
                self._add_rows(total, removed, subtract=True)
                return self._keep(visitor, _Summed(history, total, before.updates + changes))
        return self._keep(visitor, _Summed(history, self._summed(history), 0))

    def _summed(self, history: IntArray) -> FloatArray:
        weights = self.weights
        if isinstance(weights, np.ndarray):
            # Row by row into one buffer: gathering the rows first copied a catalogue-wide row
            # per history item before summing them.
            rows = history.tolist()
            total = np.array(weights[rows[0]], dtype=np.float32)
            for row in rows[1:]:
                total += weights[row]
            return total
        _, targets, values = sparse_rows(weights, history)
        summed: FloatArray = np.bincount(
            targets, weights=values, minlength=self.item_ids.shape[0]
        ).astype(np.float32)
        return summed

    def _add_rows(self, total: FloatArray, rows: IntArray, *, subtract: bool = False) -> None:
        weights = self.weights
        for row in rows.tolist():
            at: slice | IntArray
            if isinstance(weights, np.ndarray):
                at, part = slice(None), weights[row]
            else:
                # A CSR row holds each column once: adding at its columns adds each once.
                start, end = weights.indptr[row], weights.indptr[row + 1]
                at, part = weights.indices[start:end], weights.data[start:end]
            if subtract:
                total[at] -= part
            else:
                total[at] += part

    def _keep(self, visitor: str | None, summed: _Summed) -> FloatArray:
        if visitor is not None:
            summed.scores.flags.writeable = False  # shared with every later caller
            with self._running_lock:
                self._running.put(visitor, summed)
        return summed.scores

    def score(self, query: Query, items: IntArray) -> FloatArray:
        pos = self.item_index(items)
        return gather(self._all_scores(self._history(query), query.visitor), pos)

    def score_all(self, query: Query) -> tuple[IntArray, FloatArray]:
        return self.item_ids, self._all_scores(self._history(query), query.visitor)

    def score_batch(self, queries: Sequence[Query], items: IntArray) -> FloatArray:
        pos = self.item_index(items)
        histories = history_matrix(self.item_index, queries)
        product = histories @ self.weights
        scores = np.asarray(
            product.toarray() if sp.issparse(product) else product, dtype=np.float32
        )
        empty = np.diff(histories.indptr) == 0
        scores[empty] = self.popularity
        return gather(scores, pos)

    def explain(self, query: Query, items: IntArray, names: Names) -> list[Explanation]:
        history = self._history(query)
        explanations = super().explain(query, items, names)
        if history.shape[0] == 0:
            return explanations
        weights = self.weights
        picked = None if isinstance(weights, np.ndarray) else sparse_rows(weights, history)
        for n, pos in enumerate(self.item_index(items)):
            if pos < 0:
                continue
            strengths = (
                weights[history, pos] if picked is None else _column(picked, pos, history.shape[0])
            )
            best = int(np.argmax(strengths))
            name = names.service(int(self.item_ids[history[best]]))
            if strengths[best] > 0 and name:
                explanations[n] = Explanation(
                    short=f"Because you used {name}",
                    long=f"Researchers who use {name} often use this service too.",
                )
        return explanations

    def to_artifact(self) -> Artifact:
        arrays: dict[str, NDArray[np.generic]] = {
            "item_ids": self.item_ids,
            "popularity": self.popularity,
        }
        if isinstance(self.weights, np.ndarray):
            arrays["weights"] = self.weights
        else:
            arrays |= {
                "weights.data": self.weights.data,
                "weights.indices": self.weights.indices,
                "weights.indptr": self.weights.indptr,
            }
        return Artifact(arrays=arrays, meta={"engine": self.engine, **self.meta})

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        a = artifact.arrays
        item_ids = a["item_ids"]
        weights: NDArray[np.float32] | sp.csr_matrix
        if "weights" in a:
            weights = a["weights"]
        else:
            n = item_ids.shape[0]
            weights = sp.csr_matrix(
                (a["weights.data"], a["weights.indices"], a["weights.indptr"]), shape=(n, n)
            )
        meta = {key: value for key, value in artifact.meta.items() if key != "engine"}
        return cls(item_ids=item_ids, weights=weights, popularity=a["popularity"], meta=meta)
