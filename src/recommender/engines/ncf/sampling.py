"""What NCF's training draws from, in positions of the model's own users and items: the
positives, their sampled negatives and the recent services each pair is read with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import IntArray
from recommender.engines.features import FeatureSpace, padded
from recommender.interactions import Interactions


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """Everything an epoch draws from, in positions of the model's own users and items."""

    users: IntArray  # per positive
    items: IntArray
    weights: NDArray[np.float32]
    pair_keys: IntArray  # sorted user * n_items + item, to reject sampled positives
    histories: IntArray  # n_users x history_length, padded with n_items
    history_lengths: IntArray
    user_features: IntArray  # n_users x width, padded with the feature space's size
    item_features: IntArray  # n_items x width
    declares: NDArray[np.bool_]  # per user: declared an interest the feature space knows

    @property
    def n_pairs(self) -> int:
        return int(self.users.shape[0])


def histories(data: Interactions, users: IntArray, length: int) -> tuple[IntArray, IntArray]:
    """The last `length` services of each user row, padded on the right with `n_items`, and
    how many each has."""
    out = np.full((users.shape[0], max(length, 1)), data.n_items, dtype=np.int64)
    lengths = np.zeros(users.shape[0], dtype=np.int64)
    if length == 0:
        return out, lengths
    for row, user in enumerate(users):
        recent = data.item_index(data.history(int(user)))[-length:]
        out[row, : recent.shape[0]] = recent
        lengths[row] = recent.shape[0]
    return out, lengths


def training_set(
    data: Interactions, active: IntArray, space: FeatureSpace, length: int
) -> TrainingSet:
    """The positives of the `active` user rows (the model's users, in that order)."""
    matrix = data.matrix[active].tocoo()
    users = np.asarray(matrix.row, dtype=np.int64)
    items = np.asarray(matrix.col, dtype=np.int64)
    weights = np.asarray(matrix.data, dtype=np.float32)
    weights = weights / weights.mean() if weights.shape[0] else weights
    recent, lengths = histories(data, active, length)
    user_rows = space.rows(data.user_features, data.n_users)[active]
    item_rows = space.rows(data.item_features, data.n_items)
    return TrainingSet(
        users=users,
        items=items,
        weights=weights.astype(np.float32),
        pair_keys=np.sort(users * data.n_items + items),
        histories=recent,
        history_lengths=lengths,
        user_features=padded(user_rows, space.size),
        item_features=padded(item_rows, space.size),
        declares=np.diff(user_rows.indptr) > 0,
    )


def negatives(
    rng: np.random.Generator, train: TrainingSet, users: IntArray, n_items: int, n: int
) -> IntArray:
    """`n` services drawn uniformly per user, redrawn once where one is in fact used."""
    drawn = rng.integers(0, n_items, size=(users.shape[0], n), dtype=np.int64)
    # One redraw of negatives that are in fact used items; the rest are rare enough.
    keys = users[:, None] * n_items + drawn
    pos = np.minimum(np.searchsorted(train.pair_keys, keys), max(train.pair_keys.shape[0] - 1, 0))
    clash = train.pair_keys[pos] == keys if train.pair_keys.shape[0] else np.zeros_like(keys, bool)
    drawn[clash] = rng.integers(0, n_items, size=int(clash.sum()), dtype=np.int64)
    return drawn


def history_sample(
    rng: np.random.Generator,
    train: TrainingSet,
    users: IntArray,
    targets: IntArray,
    n: int,
    pad: int,
    dropout: float,
) -> IntArray:
    """Per pair, `n` services drawn from the user's recent history, the target itself left out
    (it would teach the model to find a service in its own history); a `dropout` share of the
    pairs get no history at all, as a newcomer has none."""
    lengths = train.history_lengths[users]
    slots = (rng.random((users.shape[0], n)) * np.maximum(lengths, 1)[:, None]).astype(np.int64)
    drawn = train.histories[users[:, None], slots]
    drawn[(drawn == targets[:, None]) | (lengths[:, None] == 0)] = pad
    drawn[rng.random(users.shape[0]) < dropout] = pad
    return drawn


def head_history(
    rng: np.random.Generator,
    train: TrainingSet,
    users: IntArray,
    targets: IntArray,
    pad: int,
    dropout: float,
) -> IntArray:
    """Each pair's recent services without its target; a `dropout` share of the pairs of
    people with declared interests get none, as a newcomer has none."""
    recent = train.histories[users].copy()
    recent[recent == targets[:, None]] = pad
    recent[(rng.random(users.shape[0]) < dropout) & train.declares[users]] = pad
    return recent
