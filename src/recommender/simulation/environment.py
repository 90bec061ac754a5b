"""A gym-like environment: one visitor's session of panels, answered by the hidden choice model.

An episode is one session of a synthetic marketplace's visitor (see `schedule`): `steps`
catalogue pages (`/services`), each with a search and its candidate set, the recommendable
services that match it minus what a logged-in visitor already uses, as serving selects them.
The policy shows up to a panel's worth of services (`v1`: 3); the environment drops what may
not be shown (not a candidate, already used, a duplicate, beyond the panel) and shows the
rest in the policy's order, so a dropped choice leaves its slot empty and earns nothing. The
visitor's choice model (`BehaviourModel`) examines slots with the panel's position bias,
clicks and orders; `rewards` says what each click and order pays. Clicked services join the
visitor's history (once, at their latest click); ordered ones become used, so they leave the
candidate sets of later steps. Anonymous visitors never order (they would have to log in),
registered ones do, new users included.

Episodes are independent: each starts from the state of the marketplace's dump. The response
draws come from a stream keyed by (seed, episode, step), two uniforms per slot in slot order,
so two policies that show the same service in the same slot of the same step get the same
click draw (and, when their panels are as long, the same order draw).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recommender.arrays import BoolArray, DoubleArray, IntArray
from recommender.contract.recommendations import PANEL_SIZES
from recommender.contract.rewards import RewardValues
from recommender.simulation.rewards import PanelRewards
from recommender.simulation.schedule import (
    RESPONSE_STREAM,
    Context,
    EpisodeSchedule,
    Visitor,
    stream,
)
from recommender.synthetic.behaviour import BehaviourModel
from recommender.synthetic.generator import SyntheticMarketplace
from recommender.synthetic.search import SearchIndex
from recommender.synthetic.vocabulary import EoscVocabulary, load_vocabulary

# The search index's own stream only orders search results, which the simulator does not show.
_RESULT_ORDER_STREAM = 71_000


def _ids(values: Sequence[int] | IntArray) -> IntArray:
    return np.asarray(values, dtype=np.int64).reshape(-1)


def _empty_search() -> dict[str, Any]:
    return {}


@dataclass(frozen=True, eq=False)
class Observation:
    """What a policy sees before a panel: the visitor as the portal knows it, and the page.

    `history` holds the services the visitor used before and clicked in this session, oldest
    first; `owned` the ones it uses (a logged-in visitor's, never shown); `candidates` the
    services that may be shown, ascending. The observation after the last step has no
    candidates and no search.
    """

    episode: int
    step: int
    user_id: int | None
    unique_id: str
    history: IntArray
    owned: IntArray
    scientific_domains: tuple[int, ...]
    categories: tuple[int, ...]
    candidates: IntArray
    panel_size: int
    search_data: Mapping[str, Any] = field(default_factory=_empty_search)


@dataclass(frozen=True, eq=False)
class Step:
    """What one panel did: per shown slot its reward, click and order, and what came next."""

    shown: IntArray
    rewards: DoubleArray
    clicked: BoolArray
    ordered: BoolArray
    dropped: IntArray  # what the policy returned that was not shown, in its order
    observation: Observation
    done: bool

    @property
    def reward(self) -> float:
        return float(self.rewards.sum())


class MarketplaceEnv:
    """Sessions of one synthetic marketplace's visitors; deterministic for a seed.

    `reset(episode)` starts episode `episode` (by default the one after the last started),
    and `step(services)` shows a panel; every episode number stands for the same visitor and
    searches whatever policy runs it.
    """

    def __init__(
        self,
        market: SyntheticMarketplace,
        *,
        steps: int = 5,
        panel_id: str = "v1",
        rewards: RewardValues | None = None,
        seed: int = 0,
        vocabulary: EoscVocabulary | None = None,
    ) -> None:
        if steps < 1:
            raise ValueError("an episode needs at least one step")
        if panel_id not in PANEL_SIZES:
            raise ValueError(f"unknown panel {panel_id!r}; expected one of {sorted(PANEL_SIZES)}")
        self.steps = steps
        self.panel_id = panel_id
        self.panel_size = PANEL_SIZES[panel_id]
        self.seed = seed
        self.rewards = PanelRewards.of(rewards, market.graph)
        self.behaviour: BehaviourModel = market.behaviour
        self.service_ids = market.catalogue.ids
        histories = {
            int(user["id"]): [int(s) for s in user["accessed_services"]]
            for user in market.dump["users"]
        }
        search = SearchIndex(
            market.catalogue,
            vocabulary or load_vocabulary(),
            stream(seed, _RESULT_ORDER_STREAM),
        )
        self.schedule = EpisodeSchedule(market.population, search, histories, seed)
        self._next_episode = 0
        self._episode = -1
        self._step = 0
        self._done = True
        self._visitor: Visitor | None = None
        self._history: list[int] = []
        self._owned: set[int] = set()
        self._observation: Observation | None = None

    def reset(self, episode: int | None = None) -> Observation:
        """Start an episode from the dump's state of its visitor; returns the first page."""
        self._episode = self._next_episode if episode is None else operator.index(episode)
        if self._episode < 0:
            raise ValueError("episode numbers start at 0")
        self._next_episode = self._episode + 1
        visitor = self.schedule.visitor(self._episode)
        self._visitor = visitor
        self._history = list(visitor.history)
        self._owned = set(visitor.history) if visitor.registered else set()
        self._step = 0
        self._done = False
        self._observation = self._observe(self.schedule.context(self._episode, 0, visitor))
        return self._observation

    def step(self, services: Sequence[int] | IntArray) -> Step:
        """Show `services` (best first) on the current page and let the visitor respond."""
        if self._done or self._visitor is None or self._observation is None:
            raise RuntimeError("call reset() before step(), and again after an episode is done")
        visitor = self._visitor
        shown, dropped = self._validate(services, self._observation.candidates)
        rng = stream(self.seed, RESPONSE_STREAM, self._episode, self._step)
        response = self.behaviour.respond(
            visitor.profile,
            shown,
            rng,
            placement="panel",
            owned=[int(s) in self._owned for s in shown],
            can_order=visitor.registered,
        )
        for service, clicked, ordered in zip(
            shown.tolist(), response.clicked.tolist(), response.ordered.tolist(), strict=True
        ):
            if clicked:
                if service in self._history:
                    self._history.remove(service)
                self._history.append(service)
            if ordered:
                self._owned.add(service)
        self._step += 1
        self._done = self._step >= self.steps
        if self._done:
            observation = self._observe(None)
        else:
            observation = self._observe(self.schedule.context(self._episode, self._step, visitor))
        self._observation = observation
        return Step(
            shown=shown,
            rewards=self.rewards.pay(response.clicked, response.ordered),
            clicked=response.clicked,
            ordered=response.ordered,
            dropped=dropped,
            observation=observation,
            done=self._done,
        )

    def _validate(
        self, services: Sequence[int] | IntArray, candidates: IntArray
    ) -> tuple[IntArray, IntArray]:
        """The services that may be shown, in the policy's order, and the ones dropped."""
        allowed = set(candidates.tolist())
        shown: list[int] = []
        dropped: list[int] = []
        for value in list(services):
            service = operator.index(value)
            if len(shown) < self.panel_size and service in allowed and service not in shown:
                shown.append(service)
            else:
                dropped.append(service)
        return _ids(shown), _ids(dropped)

    def _observe(self, context: Context | None) -> Observation:
        visitor = self._visitor
        assert visitor is not None
        if context is None:
            candidates = _ids([])
            search_data: dict[str, Any] = {}
        else:
            candidates = self.service_ids[context.matches]
            if self._owned:
                candidates = candidates[~np.isin(candidates, _ids(sorted(self._owned)))]
            search_data = dict(context.search_data)
        return Observation(
            episode=self._episode,
            step=self._step,
            user_id=visitor.user_id,
            unique_id=visitor.unique_id,
            history=_ids(self._history),
            owned=_ids(sorted(self._owned)),
            scientific_domains=visitor.scientific_domains,
            categories=visitor.categories,
            candidates=_ids(candidates),
            panel_size=self.panel_size,
            search_data=search_data,
        )
