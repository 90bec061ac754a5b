"""Orders outside the simulated window: what users used before it, and what they order after it.

A user comes across services in proportion to how much they weigh in the clusters the user
cares about and to their popularity (`exp(popularity_skew * quality)`), and orders one with the
choice model's order probability. Histories are therefore skewed to popular services but led by
interests, and the held-out future orders follow the same law as everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recommender.arrays import IntArray
from recommender.synthetic.behaviour import BehaviourModel
from recommender.synthetic.catalogue import Catalogue

MAX_ROUNDS = 40
OVERSAMPLE = 3


class OrderSampler:
    """Draws services users order, without repeats, in chronological order."""

    def __init__(
        self, behaviour: BehaviourModel, catalogue: Catalogue, popularity_skew: float
    ) -> None:
        self.behaviour = behaviour
        self.ids = catalogue.ids
        weights = catalogue.topics * np.exp(popularity_skew * catalogue.quality)[:, None]
        weights = weights * catalogue.recommendable[:, None]
        # Column k: cumulative discovery weights of services for someone browsing cluster k.
        self.cumulative = np.cumsum(weights, axis=0)

    def sample(
        self,
        rng: np.random.Generator,
        profiles: IntArray,
        counts: IntArray,
        exclude: Sequence[set[int]] | None = None,
    ) -> list[list[int]]:
        """`counts[i]` new service ids for profile `profiles[i]`, none of `exclude[i]`.

        Gives fewer when a profile keeps refusing what it finds (it then has few services it
        would order at all), after a bounded number of rounds.
        """
        n = profiles.shape[0]
        out: list[list[int]] = [[] for _ in range(n)]
        seen = [set(e) for e in exclude] if exclude is not None else [set() for _ in range(n)]
        need = counts.astype(np.int64).copy()
        interests = np.cumsum(self.behaviour.interests, axis=1)
        totals = self.cumulative[-1]
        for _ in range(MAX_ROUNDS):
            slots = np.flatnonzero(need > 0)
            if slots.size == 0:
                break
            slot = np.repeat(slots, need[slots] * OVERSAMPLE)
            profile = profiles[slot]
            rows = interests[profile]
            cluster = (rng.random(slot.size)[:, None] * rows[:, -1:] >= rows).sum(axis=1)
            cluster = np.minimum(cluster, rows.shape[1] - 1)
            target = rng.random(slot.size) * totals[cluster]
            row = np.empty(slot.size, dtype=np.int64)
            for k in np.unique(cluster):
                chosen = cluster == k
                row[chosen] = np.searchsorted(self.cumulative[:, k], target[chosen], "right")
            row = np.minimum(row, self.ids.shape[0] - 1)
            ids = self.ids[row]
            accept = self.behaviour.order_given_click(self.behaviour.affinity(profile, ids))
            kept = rng.random(slot.size) < accept
            for s, service in zip(slot[kept].tolist(), ids[kept].tolist(), strict=True):
                if need[s] > 0 and service not in seen[s]:
                    seen[s].add(service)
                    out[s].append(service)
                    need[s] -= 1
        return out


def group_projects(
    rng: np.random.Generator, user_ids: IntArray, histories: Sequence[Sequence[int]]
) -> tuple[list[dict[str, Any]], list[list[int]]]:
    """Projects of each user: consecutive stretches of its history, one to three per user.

    Returns the project records (ids from 1) and, per user, its project ids oldest first.
    """
    projects: list[dict[str, Any]] = []
    per_user: list[list[int]] = []
    for user_id, history in zip(user_ids.tolist(), histories, strict=True):
        mine: list[int] = []
        if history:
            n_projects = 1 + int(len(history) > 3) + int(len(history) > 10)
            cuts = sorted(rng.choice(np.arange(1, len(history)), n_projects - 1, replace=False))
            for chunk in np.split(np.asarray(history, dtype=np.int64), cuts):
                projects.append(
                    {"id": len(projects) + 1, "user_id": user_id, "services": chunk.tolist()}
                )
                mine.append(len(projects))
        per_user.append(mine)
    return projects, per_user
