"""The policy that filled the recommendation panels of the synthetic log: popular or random.

Each slot of a panel shows, with probability `epsilon`, a uniformly random matching service,
and otherwise the most popular matching service not shown yet. Popularity is the number of
users who use a service, as a popularity engine would count it, refreshed once a day. The
random share gives the log the exploration an off-policy learner (the RL engine) needs.
"""

from __future__ import annotations

import numpy as np

from recommender.arrays import BoolArray, DoubleArray, IntArray


class LoggingPolicy:
    def __init__(self, epsilon: float, counts: DoubleArray) -> None:
        if not 0 <= epsilon <= 1:
            raise ValueError("epsilon must be within [0, 1]")
        self.epsilon = epsilon
        self.refresh(counts)

    @property
    def name(self) -> str:
        return f"popularity-random(epsilon={self.epsilon:g})"

    def refresh(self, counts: DoubleArray) -> None:
        """Take today's usage counts; ties go to the lower row so the order is deterministic."""
        self.order = np.asarray(np.argsort(-np.asarray(counts), kind="stable"), dtype=np.int64)

    def serve(self, rng: np.random.Generator, candidates: BoolArray, size: int) -> IntArray:
        """Rows of the services shown, slot by slot; fewer when fewer services match."""
        ranked = self.order[candidates[self.order]]
        chosen: list[int] = []
        taken: set[int] = set()
        explore = rng.random(size) < self.epsilon
        next_popular = 0
        for slot in range(min(size, ranked.shape[0])):
            if explore[slot]:
                # Redraw until the slot holds a service not already shown.
                while True:
                    row = int(ranked[rng.integers(ranked.shape[0])])
                    if row not in taken:
                        break
            else:
                while int(ranked[next_popular]) in taken:
                    next_popular += 1
                row = int(ranked[next_popular])
            chosen.append(row)
            taken.add(row)
        return np.asarray(chosen, dtype=np.int64)
