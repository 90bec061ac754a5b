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

With `browse` on, each page also shows the search's first page of results (the matches in the
search index's order, `RESULTS_PER_PAGE` of them), as the portal does beside the panel. After
the panel the visitor examines the results as the generator's visitors do (placement "list")
and opens what it clicks, up to the generator's clicks per catalogue visit in all, a service
already clicked in the panel once; it may order what it opens. Opened services join the
history and orders become used as for panel clicks, panel clicks first, but earn no reward:
the policy did not show them. Off (the default), nothing of that happens and no draw changes.

Episodes are independent: each starts from the state of the marketplace's dump. The response
draws come from a stream keyed by (seed, episode, step), two uniforms per slot in slot order,
so two policies that show the same service in the same slot of the same step get the same
click draw (and, when their panels are as long, the same order draw). The search results are
examined with draws of their own stream keyed the same way, so browsing never moves a panel's
draws and every policy's visitor draws the same numbers for the same results page.
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
    BROWSE_STREAM,
    RESPONSE_STREAM,
    Context,
    EpisodeSchedule,
    Visitor,
    stream,
)
from recommender.synthetic.behaviour import BehaviourModel
from recommender.synthetic.generator import SyntheticMarketplace, search_index
from recommender.synthetic.search import RESULTS_PER_PAGE
from recommender.synthetic.vocabulary import EoscVocabulary


def _ids(values: Sequence[int] | IntArray) -> IntArray:
    return np.asarray(values, dtype=np.int64).reshape(-1)


def _empty_search() -> dict[str, Any]:
    return {}


def _no_services() -> IntArray:
    return _ids([])


def _no_flags() -> BoolArray:
    return np.zeros(0, dtype=bool)


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
    # Browsing: the search results the visitor opened after the panel, in page order, and
    # which of them it ordered (empty with browsing off).
    opened: IntArray = field(default_factory=_no_services)
    opened_ordered: BoolArray = field(default_factory=_no_flags)

    @property
    def reward(self) -> float:
        return float(self.rewards.sum())


class MarketplaceEnv:
    """Sessions of one synthetic marketplace's visitors; deterministic for a seed.

    `reset(episode)` starts episode `episode` (by default the one after the last started),
    and `step(services)` shows a panel; every episode number stands for the same visitor and
    searches whatever policy runs it. `browse` shows each page's search results too.
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
        browse: bool = False,
    ) -> None:
        if steps < 1:
            raise ValueError("an episode needs at least one step")
        if panel_id not in PANEL_SIZES:
            raise ValueError(f"unknown panel {panel_id!r}; expected one of {sorted(PANEL_SIZES)}")
        self.steps = steps
        self.panel_id = panel_id
        self.panel_size = PANEL_SIZES[panel_id]
        self.seed = seed
        self.browse = browse
        # The generator's cap on journeys started from one catalogue page, panel included.
        self.max_opened = market.config.journeys.max_clicks
        self.rewards = PanelRewards.of(rewards, market.graph)
        self.behaviour: BehaviourModel = market.behaviour
        self.service_ids = market.catalogue.ids
        histories = {
            int(user["id"]): [int(s) for s in user["accessed_services"]]
            for user in market.dump["users"]
        }
        # The generator's own index, so results come in the order its logged visitors saw.
        search = search_index(market, vocabulary)
        self.schedule = EpisodeSchedule(market.population, search, histories, seed)
        self._next_episode = 0
        self._episode = -1
        self._step = 0
        self._done = True
        self._visitor: Visitor | None = None
        self._history: list[int] = []
        self._owned: set[int] = set()
        self._context: Context | None = None
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
        self._context = self.schedule.context(self._episode, 0, visitor)
        self._observation = self._observe(self._context)
        return self._observation

    def step(self, services: Sequence[int] | IntArray) -> Step:
        """Show `services` (best first) on the current page and let the visitor respond."""
        if self._done or self._visitor is None or self._observation is None:
            raise RuntimeError("call reset() before step(), and again after an episode is done")
        if self._context is None:
            raise RuntimeError("an episode in progress has a page")
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
        clicks = shown[response.clicked]
        opened, opened_ordered = _no_services(), _no_flags()
        if self.browse:
            # Decided before the panel's orders count, as the visitor sees both on one page.
            opened, opened_ordered = self._browse(self._context, clicks)
        self._remember(shown, response.clicked, response.ordered)
        self._remember(opened, np.ones(opened.shape[0], dtype=bool), opened_ordered)
        self._step += 1
        self._done = self._step >= self.steps
        if self._done:
            self._context = None
        else:
            self._context = self.schedule.context(self._episode, self._step, visitor)
        observation = self._observe(self._context)
        self._observation = observation
        return Step(
            shown=shown,
            rewards=self.rewards.pay(response.clicked, response.ordered),
            clicked=response.clicked,
            ordered=response.ordered,
            dropped=dropped,
            observation=observation,
            done=self._done,
            opened=opened,
            opened_ordered=opened_ordered,
        )

    def results(self, context: Context) -> IntArray:
        """The ids of a page's first page of search results, in the search index's order."""
        rows = self.schedule.search.results(context.search_data, context.matches, RESULTS_PER_PAGE)
        return _ids(self.service_ids[rows])

    def _browse(self, context: Context, clicks: IntArray) -> tuple[IntArray, BoolArray]:
        """The results the visitor opens after clicking `clicks` in the panel, and which of
        them it orders: the generator's list examination, from the browse stream."""
        visitor = self._visitor
        assert visitor is not None
        results = self.results(context)
        rng = stream(self.seed, BROWSE_STREAM, self._episode, self._step)
        response = self.behaviour.respond(
            visitor.profile,
            results,
            rng,
            placement="list",
            owned=[int(s) in self._owned for s in results],
            can_order=visitor.registered,
        )
        # A service clicked in the panel is one journey already; the rest share what is left
        # of the page's journeys in page order, as the generator's visitors do.
        fresh = response.clicked & ~np.isin(results, clicks)
        room = max(self.max_opened - int(clicks.shape[0]), 0)
        picked = np.flatnonzero(fresh)[:room]
        return _ids(results[picked]), np.asarray(response.ordered[picked], dtype=bool)

    def _remember(self, services: IntArray, clicked: BoolArray, ordered: BoolArray) -> None:
        """Clicked services move to the end of the history; ordered ones become used."""
        for service, click, order in zip(
            services.tolist(), clicked.tolist(), ordered.tolist(), strict=True
        ):
            if click:
                if service in self._history:
                    self._history.remove(service)
                self._history.append(service)
            if order:
                self._owned.add(service)

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
