"""Policies that fill the simulator's panels: any trained engine, served as serving serves it,
and an oracle that reads the hidden truth (a ceiling, not an engine)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from recommender.arrays import IntArray
from recommender.engines.base import Model, Query
from recommender.engines.ranking import rank
from recommender.simulation.environment import Observation
from recommender.synthetic.behaviour import BehaviourModel
from recommender.synthetic.generator import SyntheticMarketplace


class Policy(Protocol):
    """Chooses the services of one panel, best first, from what a page shows of a visitor."""

    def __call__(self, observation: Observation) -> Sequence[int] | IntArray: ...


def query_of(observation: Observation) -> Query:
    """The query serving would build: the visitor's history and declared interests, plus the
    scientific domains and categories its search filters on."""
    search = observation.search_data
    domains = (*observation.scientific_domains, *search.get("scientific_domains", ()))
    categories = (*observation.categories, *search.get("categories", ()))
    return Query(
        user_id=observation.user_id,
        history=observation.history,
        scientific_domains=tuple(dict.fromkeys(int(d) for d in domains)),
        categories=tuple(dict.fromkeys(int(c) for c in categories)),
    )


class EnginePolicy:
    """A trained model behind the panel, with serving's rules around it.

    Visitors the model cannot personalise for (`knows` is false: no history, say) get the
    `fallback` model (popularity in production); slots the chosen model leaves empty (services
    it cannot score) are filled by the fallback, then by the remaining candidates in id order.
    A logged-in visitor's used services are never ranked.
    """

    def __init__(self, model: Model, fallback: Model | None = None) -> None:
        self.model = model
        self.fallback = fallback

    def __call__(self, observation: Observation) -> IntArray:
        k = observation.panel_size
        candidates = observation.candidates
        if observation.user_id is not None and observation.owned.shape[0]:
            candidates = candidates[~np.isin(candidates, observation.owned)]
        query = query_of(observation)
        model = self.model
        if self.fallback is not None and not model.knows(query):
            model = self.fallback
        ids, _ = rank(model, query, candidates, k)
        if ids.shape[0] < min(k, candidates.shape[0]) and self.fallback is not None:
            rest = candidates[~np.isin(candidates, ids)]
            more, _ = rank(self.fallback, query, rest, k - ids.shape[0])
            ids = np.concatenate([ids, more])
        if ids.shape[0] < min(k, candidates.shape[0]):
            # Services nobody can score go last, in a fixed order.
            rest = candidates[~np.isin(candidates, ids)]
            ids = np.concatenate([ids, rest[: k - ids.shape[0]]])
        return np.asarray(ids, dtype=np.int64)


class OraclePolicy:
    """Shows the candidates the visitor truly likes most: the choice model's own affinity."""

    def __init__(self, behaviour: BehaviourModel) -> None:
        self.behaviour = behaviour

    @classmethod
    def of(cls, market: SyntheticMarketplace) -> OraclePolicy:
        """The oracle of a marketplace's visitors (a `Reference` for `simulate`)."""
        return cls(market.behaviour)

    def __call__(self, observation: Observation) -> IntArray:
        candidates = observation.candidates
        profile = self.behaviour.profile_of(observation.user_id, observation.unique_id)
        if profile is None or candidates.shape[0] == 0:
            return np.asarray(candidates[: observation.panel_size], dtype=np.int64)
        affinity = self.behaviour.affinity(profile, candidates)
        best = np.lexsort((candidates, -affinity))[: observation.panel_size]
        return np.asarray(candidates[best], dtype=np.int64)
