"""Evaluation data sets: one in-memory shape for every source, and the rating and k-core
filters. The readers that fill it are in `readers.py`; the protocols and the runner never look
at where the data came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from recommender.arrays import FloatArray, IntArray
from recommender.interactions import Interactions, SideFeatures

StrArray = NDArray[np.str_]


def _no_names() -> dict[int, str]:
    return {}


@dataclass(frozen=True, eq=False)
class ShippedTest:
    """A test split that comes with the data: per user one held-out item and its negatives."""

    users: IntArray
    items: IntArray
    # One row per held-out pair, external item ids.
    negatives: IntArray


@dataclass(frozen=True, eq=False)
class EvalDataset:
    """Feedback events as parallel arrays of external ids, in source order.

    `weights` are what an engine trains on (1 for every rating: feedback is implicit);
    `ratings` are kept only for `--min-rating` (NaN where the source has none). A shipped test
    split's pairs are among the events.
    """

    name: str
    users: IntArray
    items: IntArray
    weights: FloatArray
    timestamps: NDArray[np.float64]
    ratings: NDArray[np.float64]
    shipped_test: ShippedTest | None = None
    item_names: Mapping[int, str] = field(default_factory=_no_names)
    # User and item features (our own store has them; public data sets do not).
    features: SideFeatures | None = None

    def __len__(self) -> int:
        return int(self.users.shape[0])

    @property
    def n_users(self) -> int:
        return int(np.unique(self.users).shape[0])

    @property
    def n_items(self) -> int:
        return int(np.unique(self.items).shape[0])

    def item_universe(self) -> IntArray:
        """Every item the data names, shipped negatives included."""
        parts = [self.items]
        if self.shipped_test is not None:
            parts += [self.shipped_test.items, self.shipped_test.negatives.ravel()]
        return np.unique(np.concatenate(parts))

    def select(self, keep: NDArray[np.bool_]) -> EvalDataset:
        """The events where `keep` holds; a shipped split no longer applies to a subset."""
        if self.shipped_test is not None and not keep.all():
            raise ValueError(
                f"{self.name} ships its own test split; filtering its events would invalidate it"
            )
        return replace(
            self,
            users=self.users[keep],
            items=self.items[keep],
            weights=self.weights[keep],
            timestamps=self.timestamps[keep],
            ratings=self.ratings[keep],
        )

    def to_interactions(self) -> Interactions:
        return with_features(
            self.features,
            self.users,
            self.items,
            self.weights,
            self.timestamps,
            user_ids=np.unique(self.users),
            item_ids=self.item_universe(),
        )


@dataclass(frozen=True)
class Filters:
    """RecBole-style preprocessing: drop low ratings, then keep the k-core."""

    min_rating: float | None = None
    # Users and items with fewer distinct partners than this are dropped, repeatedly, until
    # every remaining one has at least k; 0 or 1 keeps everything.
    k_core: int = 0


def apply_filters(data: EvalDataset, filters: Filters) -> EvalDataset:
    if filters.min_rating is not None:
        if np.isnan(data.ratings).all():
            raise ValueError(f"--min-rating needs ratings, and {data.name} has none")
        data = data.select(data.ratings >= filters.min_rating)
    if filters.k_core > 1:
        data = data.select(_k_core_mask(data.users, data.items, filters.k_core))
    return data


def _k_core_mask(users: IntArray, items: IntArray, k: int) -> NDArray[np.bool_]:
    _, user_pos = np.unique(users, return_inverse=True)
    _, item_pos = np.unique(items, return_inverse=True)
    # Count distinct pairs, so repeated events of one user on one item do not make a core.
    pair_key = user_pos.astype(np.int64) * (int(item_pos.max(initial=0)) + 1) + item_pos
    _, first = np.unique(pair_key, return_index=True)
    is_first = np.zeros(users.shape[0], dtype=bool)
    is_first[first] = True
    keep = np.ones(users.shape[0], dtype=bool)
    while True:
        counted = keep & is_first
        user_count = np.bincount(user_pos[counted], minlength=int(user_pos.max(initial=-1)) + 1)
        item_count = np.bincount(item_pos[counted], minlength=int(item_pos.max(initial=-1)) + 1)
        still = keep & (user_count[user_pos] >= k) & (item_count[item_pos] >= k)
        if np.array_equal(still, keep):
            return keep
        keep = still


def with_features(
    features: SideFeatures | None,
    users: IntArray,
    items: IntArray,
    weights: FloatArray,
    timestamps: NDArray[np.float64],
    *,
    user_ids: IntArray,
    item_ids: IntArray,
) -> Interactions:
    """`Interactions.from_events` over fixed id sets, carrying side features when there are."""
    user_features, item_features = (
        features.aligned(np.unique(user_ids), np.unique(item_ids)) if features else ({}, {})
    )
    return Interactions.from_events(
        users,
        items,
        weights,
        timestamps,
        user_ids=user_ids,
        item_ids=item_ids,
        user_features=user_features,
        item_features=item_features,
        feature_vocab=features.vocab if features else {},
    )


def from_interactions(data: Interactions, name: str) -> EvalDataset:
    """An evaluation data set of everything an `Interactions` holds, features included."""
    if data.events is None:
        raise ValueError("the interactions carry no event log")
    events = data.events
    return EvalDataset(
        name=name,
        users=data.user_ids[events.users],
        items=data.item_ids[events.items],
        weights=events.weights,
        timestamps=events.timestamps,
        ratings=np.full(len(events), np.nan),
        features=SideFeatures.of(data),
    )
