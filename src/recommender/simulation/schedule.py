"""Who visits in each episode and what they search for: the same for every policy.

Every draw comes from a random stream keyed by (seed, episode, step), never from a stream a
policy's choices could advance, so two policies run on the same seed face the same visitors
with the same searches in the same order (common random numbers): their returns differ by what
they showed, not by whom they met.

Visitors are drawn uniformly over the population's profiles, so registered users with a
history, new users without one and anonymous visitors come in the population's proportions.
A session looks for services of one of the visitor's clusters, drawn from its interests, and
each step's search is drawn as the generator draws one (`SearchIndex.draw`): the first a fresh
search, the later ones refinements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recommender.arrays import BoolArray
from recommender.synthetic.population import Population
from recommender.synthetic.search import SearchIndex

# Stream tags, so the visitor, search, panel response and search results response draws
# never share numbers.
VISITOR_STREAM = 71_001
SEARCH_STREAM = 71_002
RESPONSE_STREAM = 71_003
BROWSE_STREAM = 71_004


def stream(seed: int, tag: int, *keys: int) -> np.random.Generator:
    """The random stream of one draw, fixed by the seed, a tag and the episode (and step)."""
    return np.random.default_rng([seed, tag, *keys])


@dataclass(frozen=True)
class Visitor:
    """One session's visitor as the portal knows it, plus its hidden profile row."""

    profile: int
    cluster: int  # the community whose services this session looks for
    unique_id: str
    user_id: int | None
    history: tuple[int, ...]  # services used before, oldest first
    scientific_domains: tuple[int, ...]
    categories: tuple[int, ...]

    @property
    def registered(self) -> bool:
        return self.user_id is not None


@dataclass(frozen=True)
class Context:
    """One step's page: the search the visitor made and the services it matches."""

    search_data: Mapping[str, Any]
    matches: BoolArray  # per catalogue row: recommendable and matching the search


class EpisodeSchedule:
    """The visitor of each episode and the search of each step, as pure functions of keys."""

    def __init__(
        self,
        population: Population,
        search: SearchIndex,
        histories: Mapping[int, Sequence[int]],
        seed: int,
    ) -> None:
        self.population = population
        self.search = search
        self.histories = histories
        self.seed = seed
        self._interest_cdf = np.cumsum(population.interests, axis=1)

    def visitor(self, episode: int) -> Visitor:
        pop = self.population
        rng = stream(self.seed, VISITOR_STREAM, episode)
        profile = int(rng.integers(pop.n_profiles))
        cdf = self._interest_cdf[profile]
        cluster = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], "right")), cdf.size - 1)
        unique_id = pop.unique_ids[profile]
        if profile >= pop.n_users:
            return Visitor(profile, cluster, unique_id, None, (), (), ())
        user_id = int(pop.user_ids[profile])
        return Visitor(
            profile=profile,
            cluster=cluster,
            unique_id=unique_id,
            user_id=user_id,
            history=tuple(int(s) for s in self.histories.get(user_id, ())),
            scientific_domains=tuple(pop.declared_domains[profile]),
            categories=tuple(pop.declared_categories[profile]),
        )

    def context(self, episode: int, step: int, visitor: Visitor) -> Context:
        rng = stream(self.seed, SEARCH_STREAM, episode, step)
        search_data, matches = self.search.draw(rng, visitor.cluster, refined=step > 0)
        return Context(search_data=search_data, matches=matches)
