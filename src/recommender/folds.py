"""Held-out data: what a model is trained on and the pairs it must then find.

Evaluation builds folds (`evaluation.protocols` owns the splitting); engines that stop early
are handed one to check themselves on, so the types live below both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.arrays import IntArray
from recommender.interactions import Interactions


@dataclass(frozen=True, eq=False)
class Heldout:
    """One round of ranking: for each evaluated user (a row position of the fold's training
    data), the held-out items to find and the items that must not be ranked at all."""

    users: IntArray
    # len(users) x n_items, 1 where an item is held out for that user.
    relevant: sp.csr_matrix
    # len(users) x n_items, 1 where an item is never ranked (the user's known items).
    exclude: sp.csr_matrix
    # len(users) x c item positions to rank among instead of the whole catalogue (-1 pads);
    # None ranks every item that is not excluded.
    candidates: IntArray | None = None

    @property
    def n_users(self) -> int:
        return int(self.users.shape[0])

    def rows(self, keep: IntArray) -> Heldout:
        """The same round for the users at row positions `keep` only, in that order."""
        return Heldout(
            users=self.users[keep],
            relevant=self.relevant[keep],
            exclude=self.exclude[keep],
            candidates=None if self.candidates is None else self.candidates[keep],
        )


@dataclass(frozen=True, eq=False)
class Fold:
    """Train on `train`, then rank `heldout`. Both folds of a split share one id space."""

    train: Interactions
    heldout: Heldout

    def sampled(self, most: int, seed: int) -> Fold:
        """The fold with at most `most` of its held-out users, drawn evenly at random (the
        same for the same seed), and the same training data: per-user means measured on it
        estimate the whole fold's without bias, at a cost that no longer grows with users."""
        if self.heldout.n_users <= most:
            return self
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(self.heldout.n_users, size=most, replace=False))
        return Fold(train=self.train, heldout=self.heldout.rows(keep))
