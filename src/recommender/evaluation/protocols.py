"""Evaluation protocols: how a data set is split into what an engine learns from and what it
must then find, for the test and for a validation carved out of the training part only.

Every protocol works on distinct (user, item) pairs: repeated events of a pair are merged
(weights summed, the latest time kept), so a held-out pair never leaks into training. "Latest"
orders pairs by time; pairs without a time count as older than every timed pair of the same
user, and ties (or no times at all) fall back to the order of the source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from recommender.arrays import BoolArray, FloatArray, IntArray
from recommender.evaluation.datasets import EvalDataset, with_features
from recommender.folds import Fold, Heldout
from recommender.interactions import Interactions, SideFeatures


@dataclass(frozen=True, eq=False)
class Split:
    protocol: str
    test: Fold
    # For tuning and early stopping: built from the test fold's training part only.
    validation: Fold


@dataclass(frozen=True, eq=False)
class _Pairs:
    """Distinct (user, item) pairs in positions, sorted by user, then oldest first."""

    user_ids: IntArray
    item_ids: IntArray
    users: IntArray
    items: IntArray
    weights: FloatArray
    times: NDArray[np.float64]
    features: SideFeatures | None = None

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])

    def key(self, users: IntArray, items: IntArray) -> IntArray:
        return users * self.n_items + items

    def group_bounds(self) -> tuple[IntArray, IntArray]:
        """Start and end (exclusive) of every user's pairs, for all users."""
        n_users = self.user_ids.shape[0]
        starts = np.searchsorted(self.users, np.arange(n_users))
        ends = np.searchsorted(self.users, np.arange(n_users), side="right")
        return starts.astype(np.int64), ends.astype(np.int64)

    def interactions(self, keep: BoolArray) -> Interactions:
        return with_features(
            self.features,
            self.user_ids[self.users[keep]],
            self.item_ids[self.items[keep]],
            self.weights[keep],
            self.times[keep],
            user_ids=self.user_ids,
            item_ids=self.item_ids,
        )

    def matrix(self, rows: IntArray, keep: BoolArray) -> sp.csr_matrix:
        """Indicator of the kept pairs of the users `rows` (in that order) x items."""
        row_of = np.full(self.user_ids.shape[0], -1, dtype=np.int64)
        row_of[rows] = np.arange(rows.shape[0])
        mine = keep & (row_of[self.users] >= 0)
        data = np.ones(int(mine.sum()), dtype=np.float32)
        out = sp.csr_matrix(
            (data, (row_of[self.users[mine]], self.items[mine])),
            shape=(rows.shape[0], self.n_items),
        )
        out.sum_duplicates()
        return out


def _pairs(data: EvalDataset) -> _Pairs:
    user_ids = np.unique(data.users)
    item_ids = data.item_universe()
    users = np.searchsorted(user_ids, data.users).astype(np.int64)
    items = np.searchsorted(item_ids, data.items).astype(np.int64)
    key = users * item_ids.shape[0] + items
    unique_key, inverse = np.unique(key, return_inverse=True)
    n = unique_key.shape[0]
    weights = np.bincount(inverse, weights=data.weights, minlength=n).astype(np.float32)
    times = np.full(n, np.nan)
    np.fmax.at(times, inverse, data.timestamps)
    last_seen = np.zeros(n, dtype=np.int64)
    np.maximum.at(last_seen, inverse, np.arange(key.shape[0]))
    pair_users = unique_key // item_ids.shape[0]
    order = np.lexsort((last_seen, np.nan_to_num(times, nan=-np.inf), pair_users))
    return _Pairs(
        user_ids=user_ids,
        item_ids=item_ids,
        users=pair_users[order],
        items=(unique_key % item_ids.shape[0])[order],
        weights=weights[order],
        times=times[order],
        features=data.features,
    )


def _latest(pairs: _Pairs, keep: BoolArray, min_left: int = 1) -> BoolArray:
    """Each user's latest kept pair, for users who keep at least `min_left` other pairs."""
    index = np.flatnonzero(keep)
    users = pairs.users[index]
    last = np.flatnonzero(np.r_[users[1:] != users[:-1], True])
    counts = np.diff(np.r_[-1, last])
    chosen = index[last[counts > min_left]]
    out = np.zeros(keep.shape[0], dtype=bool)
    out[chosen] = True
    return out


def _full_ranking(pairs: _Pairs, train: BoolArray, held: BoolArray, seen: BoolArray) -> Fold:
    users = np.unique(pairs.users[held])
    return Fold(
        train=pairs.interactions(train),
        heldout=Heldout(
            users=users,
            relevant=pairs.matrix(users, held),
            exclude=pairs.matrix(users, seen),
        ),
    )


def _sample_negatives(
    pairs: _Pairs, users: IntArray, n_negatives: int, rng: np.random.Generator
) -> IntArray:
    """For each user, `n_negatives` distinct items the user has no pair with (-1 pads)."""
    starts, ends = pairs.group_bounds()
    out = np.full((users.shape[0], n_negatives), -1, dtype=np.int64)
    for row, user in enumerate(users):
        positives = np.sort(pairs.items[starts[user] : ends[user]])
        free = pairs.n_items - positives.shape[0]
        size = min(n_negatives, free)
        if size <= 0:
            continue
        ranks = np.sort(rng.choice(free, size=size, replace=False))
        # The r-th item without a pair is r plus the number of positives before it.
        shift = np.searchsorted(positives - np.arange(positives.shape[0]), ranks, side="right")
        out[row, :size] = rng.permutation(ranks + shift)
    return out


def _sampled_fold(
    pairs: _Pairs,
    train: BoolArray,
    held: BoolArray,
    negatives: IntArray | None,
    rng: np.random.Generator,
    n_negatives: int,
) -> Fold:
    index = np.flatnonzero(held)
    users = pairs.users[index]
    if negatives is None:
        negatives = _sample_negatives(pairs, users, n_negatives, rng)
    # A shipped negative that is the held-out item itself (156 users of the rebuilt NCF file)
    # would be counted as a second hit; it is dropped, leaving those users 98 negatives.
    negatives = np.where(negatives == pairs.items[index][:, None], -1, negatives)
    candidates = np.concatenate([pairs.items[index][:, None], negatives], axis=1)
    return Fold(
        train=pairs.interactions(train),
        heldout=Heldout(
            users=users,
            relevant=pairs.matrix(users, held),
            exclude=sp.csr_matrix((users.shape[0], pairs.n_items), dtype=np.float32),
            candidates=candidates,
        ),
    )


def sampled_loo(data: EvalDataset, seed: int = 0, n_negatives: int = 99) -> Split:
    """Each user's latest pair is ranked against `n_negatives` items the user never used (the
    NCF paper's protocol). A data set that ships its test pairs and negatives uses them."""
    pairs = _pairs(data)
    rng = np.random.default_rng(seed)
    everything = np.ones(pairs.users.shape[0], dtype=bool)
    shipped_negatives = None
    if data.shipped_test is not None:
        shipped = data.shipped_test
        wanted = pairs.key(
            np.searchsorted(pairs.user_ids, shipped.users),
            np.searchsorted(pairs.item_ids, shipped.items),
        )
        keys = pairs.key(pairs.users, pairs.items)
        test = np.isin(keys, wanted)
        # Rows of the shipped negatives in the order the held-out pairs appear in `pairs`.
        where = np.searchsorted(np.sort(wanted), keys[test])
        by_key = shipped.negatives[np.argsort(wanted)][where]
        shipped_negatives = np.where(
            by_key >= 0, np.searchsorted(pairs.item_ids, by_key), -1
        ).astype(np.int64)
    else:
        test = _latest(pairs, everything)
    train = everything & ~test
    validation = _latest(pairs, train)
    return Split(
        protocol="sampled-loo",
        test=_sampled_fold(pairs, train, test, shipped_negatives, rng, n_negatives),
        validation=_sampled_fold(pairs, train & ~validation, validation, None, rng, n_negatives),
    )


def temporal_loo(data: EvalDataset, seed: int = 0) -> Split:
    """Each user's latest pair is held out and ranked against every item the user has not
    used (full ranking); users with a single pair only train."""
    pairs = _pairs(data)
    everything = np.ones(pairs.users.shape[0], dtype=bool)
    test = _latest(pairs, everything)
    train = ~test
    validation = _latest(pairs, train)
    return Split(
        protocol="temporal-loo",
        test=_full_ranking(pairs, train, test, seen=train),
        validation=_full_ranking(pairs, train & ~validation, validation, seen=train & ~validation),
    )


def full_random(
    data: EvalDataset, seed: int = 0, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> Split:
    """RecBole's full-ranking protocol: each user's pairs split at random into train,
    validation and test by `ratios` (each of validation and test gets the floor of its share,
    at least one pair once a user has three); the test ranks every item the user has neither
    trained on nor validated on; the model trains on the train part only."""
    pairs = _pairs(data)
    rng = np.random.default_rng(seed)
    n_pairs = pairs.users.shape[0]
    noise = rng.random((n_pairs,))
    shuffled = np.lexsort((noise, pairs.users))
    starts, ends = pairs.group_bounds()
    counts = ends - starts
    rank = np.empty(n_pairs, dtype=np.int64)
    rank[shuffled] = np.arange(n_pairs) - starts[pairs.users[shuffled]]
    _, valid_share, test_share = ratios

    def share(fraction: float) -> IntArray:
        floor = np.floor(fraction * counts).astype(np.int64)
        return np.where((floor == 0) & (counts >= 3) & (fraction > 0), 1, floor)

    n_test, n_valid = share(test_share)[pairs.users], share(valid_share)[pairs.users]
    test = rank < n_test
    valid = (rank >= n_test) & (rank < n_test + n_valid)
    train = ~(test | valid)
    return Split(
        protocol="full-random",
        test=_full_ranking(pairs, train, test, seen=train | valid),
        validation=_full_ranking(pairs, train, valid, seen=train),
    )


Protocol = Callable[[EvalDataset, int], Split]

PROTOCOLS: dict[str, Protocol] = {
    "sampled-loo": sampled_loo,
    "full-random": full_random,
    "temporal-loo": temporal_loo,
}


def split(protocol: str, data: EvalDataset, seed: int = 0) -> Split:
    try:
        build = PROTOCOLS[protocol]
    except KeyError:
        known = ", ".join(PROTOCOLS)
        raise ValueError(f"unknown protocol {protocol!r}; known: {known}") from None
    return build(data, seed)
