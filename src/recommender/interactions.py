"""The training data every engine learns from: a weighted user x item matrix with side features."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from recommender.arrays import FloatArray, IntArray


def _empty_features() -> dict[str, sp.csr_matrix]:
    return {}


def _empty_vocab() -> dict[str, IntArray]:
    return {}


@dataclass(frozen=True, eq=False)
class Events:
    """The chronological event log behind a matrix, in row/column positions (not external ids)."""

    users: IntArray
    items: IntArray
    weights: FloatArray
    # Seconds since the epoch; NaN where the source has no time for an event.
    timestamps: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.users.shape[0])


@dataclass(frozen=True, eq=False)
class Interactions:
    """Users (rows) x items (columns); external ids are kept sorted so lookups are a bisection.

    `matrix[u, i]` is the summed weight of every event of user `u` on item `i`. Side features
    are multi-hot matrices per vocabulary (for example `scientific_domains`), whose column `j`
    stands for the external id `feature_vocab[name][j]`.
    """

    user_ids: IntArray
    item_ids: IntArray
    matrix: sp.csr_matrix
    events: Events | None = None
    user_features: Mapping[str, sp.csr_matrix] = field(default_factory=_empty_features)
    item_features: Mapping[str, sp.csr_matrix] = field(default_factory=_empty_features)
    feature_vocab: Mapping[str, IntArray] = field(default_factory=_empty_vocab)

    @property
    def n_users(self) -> int:
        return int(self.user_ids.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def user_index(self, external: ArrayLike) -> IntArray:
        """Row positions of external user ids; -1 for ids this data set does not know."""
        return _positions(self.user_ids, external)

    def item_index(self, external: ArrayLike) -> IntArray:
        """Column positions of external item ids; -1 for ids this data set does not know."""
        return _positions(self.item_ids, external)

    def binary(self) -> sp.csr_matrix:
        """The same pattern with every weight set to one (float32)."""
        ones = self.matrix.copy()
        ones.data = np.ones_like(ones.data, dtype=np.float32)
        return ones

    def history(self, user: int) -> IntArray:
        """External item ids of one user (row position), each once, at its latest use, oldest
        first when times are known (events are kept sorted by user, then time)."""
        if self.events is not None:
            start, end = np.searchsorted(self.events.users, [user, user + 1])
            items = self.events.items[start:end]
            _, first_from_end = np.unique(items[::-1], return_index=True)
            latest = np.sort(items.shape[0] - 1 - first_from_end)
            return np.asarray(self.item_ids[items[latest]], dtype=np.int64)
        row = self.matrix.indices[self.matrix.indptr[user] : self.matrix.indptr[user + 1]]
        return np.asarray(self.item_ids[np.sort(row)], dtype=np.int64)

    def user_feature_ids(self, name: str, user: int) -> tuple[int, ...]:
        """External ids of vocabulary `name` that one user (row position) carries, such as
        its declared scientific domains; () when the data has no such feature."""
        matrix = self.user_features.get(name)
        if matrix is None or name not in self.feature_vocab:
            return ()
        columns = matrix.indices[matrix.indptr[user] : matrix.indptr[user + 1]]
        return tuple(int(v) for v in self.feature_vocab[name][np.sort(columns)])

    @classmethod
    def from_events(
        cls,
        users: ArrayLike,
        items: ArrayLike,
        weights: ArrayLike | None = None,
        timestamps: ArrayLike | None = None,
        *,
        user_ids: ArrayLike | None = None,
        item_ids: ArrayLike | None = None,
        user_features: Mapping[str, sp.csr_matrix] | None = None,
        item_features: Mapping[str, sp.csr_matrix] | None = None,
        feature_vocab: Mapping[str, IntArray] | None = None,
        keep_events: bool = True,
    ) -> Interactions:
        """Build from parallel arrays of external ids; duplicates sum their weights.

        Without `keep_events` only the matrix is built, not the time-ordered event log: what
        counting needs, in about half the memory.

        `user_ids`/`item_ids` add users and items that have no events (a catalogue's cold
        services, say); when given, every event id must be among them. Side-feature rows must
        follow the sorted order of the final `user_ids`/`item_ids`.
        """
        user_arr = np.asarray(users, dtype=np.int64)
        item_arr = np.asarray(items, dtype=np.int64)
        if user_arr.shape != item_arr.shape:
            raise ValueError("users and items must have the same length")
        weight_arr = (
            np.ones(user_arr.shape, dtype=np.float32)
            if weights is None
            else np.asarray(weights, dtype=np.float32)
        )
        time_arr = (
            np.full(user_arr.shape, np.nan)
            if timestamps is None and keep_events
            else np.asarray(timestamps, dtype=np.float64)
        )
        all_users = np.unique(
            user_arr if user_ids is None else np.asarray(user_ids, dtype=np.int64)
        )
        all_items = np.unique(
            item_arr if item_ids is None else np.asarray(item_ids, dtype=np.int64)
        )
        rows = _positions(all_users, user_arr)
        cols = _positions(all_items, item_arr)
        if (rows < 0).any() or (cols < 0).any():
            raise ValueError("an event names a user or item missing from user_ids/item_ids")
        matrix = sp.csr_matrix(
            (weight_arr, (rows, cols)), shape=(all_users.shape[0], all_items.shape[0])
        )
        matrix.sum_duplicates()
        matrix = matrix.astype(np.float32)
        events = None
        if keep_events:
            # Chronological within each user; stable so events without times keep input order.
            order = np.lexsort((np.nan_to_num(time_arr, nan=-np.inf), rows))
            events = Events(
                users=rows[order],
                items=cols[order],
                weights=weight_arr[order],
                timestamps=time_arr[order],
            )
        return cls(
            user_ids=all_users,
            item_ids=all_items,
            matrix=matrix,
            events=events,
            user_features=dict(user_features or {}),
            item_features=dict(item_features or {}),
            feature_vocab=dict(feature_vocab or {}),
        )


@dataclass(frozen=True, eq=False)
class SideFeatures:
    """Multi-hot user and item features keyed by external ids, to follow data through splits."""

    user_ids: IntArray
    item_ids: IntArray
    users: Mapping[str, sp.csr_matrix]
    items: Mapping[str, sp.csr_matrix]
    vocab: Mapping[str, IntArray]

    @classmethod
    def of(cls, data: Interactions) -> SideFeatures:
        return cls(
            user_ids=data.user_ids,
            item_ids=data.item_ids,
            users=data.user_features,
            items=data.item_features,
            vocab=data.feature_vocab,
        )

    def aligned(
        self, user_ids: IntArray, item_ids: IntArray
    ) -> tuple[dict[str, sp.csr_matrix], dict[str, sp.csr_matrix]]:
        """Feature rows in the order of `user_ids`/`item_ids`; ids without features get
        empty rows."""
        return (
            {
                name: _take_rows(m, _positions(self.user_ids, user_ids))
                for name, m in self.users.items()
            },
            {
                name: _take_rows(m, _positions(self.item_ids, item_ids))
                for name, m in self.items.items()
            },
        )


def _take_rows(matrix: sp.csr_matrix, rows: IntArray) -> sp.csr_matrix:
    taken = sp.csr_matrix(matrix[np.maximum(rows, 0)], dtype=np.float32)
    if (rows < 0).any():
        taken = sp.csr_matrix(sp.diags((rows >= 0).astype(np.float32)) @ taken)
        taken.eliminate_zeros()
    return taken


def _positions(sorted_ids: IntArray, external: ArrayLike) -> IntArray:
    wanted = np.asarray(external, dtype=np.int64)
    if sorted_ids.shape[0] == 0:
        return np.full(wanted.shape, -1, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, wanted)
    pos = np.minimum(pos, sorted_ids.shape[0] - 1)
    return np.where(sorted_ids[pos] == wanted, pos, -1).astype(np.int64)
