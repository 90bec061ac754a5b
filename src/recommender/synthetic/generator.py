"""Orchestration: a whole synthetic marketplace from a config, in memory or streamed to files.

The steps, each with its own random stream derived from the seed so that the output is the
same for the same config: the catalogue; the population; orders before the window (histories
and projects); sessions over the window, day by day (user actions and served panels, with the
day's orders feeding the next day's popularity); future orders held out after the window; the
dump (users' `accessed_services` hold their history and then their orders in the window); and
the ground truth.
"""

# Longer than 400 lines because the day-by-day simulation, its configuration and its outputs
# share one set of seeded random streams that must stay in one place to stay reproducible.

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field

from recommender.activity.pages import PageGraph
from recommender.progress import Progress, quiet
from recommender.synthetic.behaviour import BehaviourModel, BehaviourParams
from recommender.synthetic.catalogue import Catalogue, build_catalogue
from recommender.synthetic.ground_truth import build_ground_truth
from recommender.synthetic.history import OrderSampler, group_projects
from recommender.synthetic.journeys import (
    Identity,
    JourneyParams,
    Journeys,
    SessionLog,
    VisitIds,
)
from recommender.synthetic.logging_policy import LoggingPolicy
from recommender.synthetic.population import Population, draw_population
from recommender.synthetic.search import SearchIndex
from recommender.synthetic.vocabulary import EoscVocabulary, load_vocabulary

DAY = 86_400.0
# Each step draws from its own stream, so changing one step leaves the others' draws alone.
_STREAMS = {
    "catalogue": 1,
    "population": 2,
    "history": 3,
    "search": 4,
    "schedule": 5,
    "future": 6,
    "noise": 7,
    "projects": 8,
    "window_projects": 9,
}
_DAY_STREAM = 1000
_VISIT_STREAM = 2000

# Each stage's share of a run, in order: (what it makes, where it starts, where it ends).
_STAGES = {
    "catalogue": ("services", 0.0, 0.02),
    "population": ("users and visitors", 0.02, 0.05),
    "history": ("orders before the window", 0.05, 0.1),
    "days": ("days of activity", 0.1, 0.94),
    "future": ("held-out future orders", 0.94, 0.97),
    "write": ("dump and ground truth", 0.97, 1.0),
}


def _report(progress: Progress, stage: str, done: int, total: int) -> None:
    label, start, end = _STAGES[stage]
    progress(start + (end - start) * done / max(total, 1), f"{label} {done}/{total}")


class SynthConfig(BaseModel):
    """Everything that shapes a synthetic marketplace; the same config gives the same output."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    services: int = Field(200, ge=1, description="Services in the catalogue.")
    users: int = Field(1000, ge=1, description="Registered users.")
    days: int = Field(30, ge=1, description="Length of the simulated window of activity.")
    seed: int = Field(0, ge=0)
    start: date = Field(date(2025, 1, 1), description="First day of the window (UTC).")
    anonymous_share: float = Field(0.3, ge=0, description="Anonymous visitors per registered user.")
    cold_start_share: float = Field(
        0.15, ge=0, le=1, description="Users who joined on the last day and used nothing yet."
    )
    sessions_per_day: float = Field(
        0.05, gt=0, description="Mean visits to the portal per user and day."
    )
    mean_history: float = Field(4.0, ge=1, description="Mean services a user used before.")
    popularity_skew: float = Field(
        1.0, ge=0, description="How much quality drives how often a service is discovered."
    )
    logging_epsilon: float = Field(
        0.3, ge=0, le=1, description="Share of panel slots the logging policy fills at random."
    )
    panel_v2_share: float = Field(0.2, ge=0, le=1, description="Browsers shown the v2 panel.")
    future_orders: int = Field(3, ge=0, description="Held-out orders per user after the window.")
    behaviour: BehaviourParams = BehaviourParams()
    journeys: JourneyParams = JourneyParams()


@dataclass
class Counts:
    services: int = 0
    users: int = 0
    visitors: int = 0
    sessions: int = 0
    user_actions: int = 0
    recommendations: int = 0
    orders: int = 0
    cold_start_users: int = 0


@dataclass
class SyntheticMarketplace:
    """A generated marketplace in memory, with the truth behind it."""

    config: SynthConfig
    dump: dict[str, Any]
    user_actions: list[dict[str, Any]]
    recommendations: list[dict[str, Any]]
    ground_truth: dict[str, Any]
    behaviour: BehaviourModel
    catalogue: Catalogue
    population: Population
    graph: PageGraph
    counts: Counts = field(default_factory=Counts)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


class _Simulation:
    """The state that lives through one generation run."""

    def __init__(
        self, config: SynthConfig, vocab: EoscVocabulary | None, progress: Progress
    ) -> None:
        self.config = config
        self.progress = progress
        self.vocab = vocab or load_vocabulary()
        self.graph = PageGraph.from_fixture(self.vocab.page_graph)
        seed = config.seed
        _report(progress, "catalogue", 0, 1)
        self.catalogue = build_catalogue(
            self.vocab, config.services, _rng(seed, _STREAMS["catalogue"])
        )
        _report(progress, "catalogue", 1, 1)
        _report(progress, "population", 0, 1)
        n_visitors = round(config.anonymous_share * config.users)
        self.population = draw_population(
            self.vocab,
            config.users,
            n_visitors,
            _rng(seed, _STREAMS["population"]),
            cold_share=config.cold_start_share,
            sessions_per_day=config.sessions_per_day,
            mean_history=config.mean_history,
            panel_v2_share=config.panel_v2_share,
        )
        pop = self.population
        noise_seed = int(_rng(seed, _STREAMS["noise"]).integers(2**62))
        self.behaviour = BehaviourModel(
            interests=pop.interests,
            service_ids=self.catalogue.ids,
            topics=self.catalogue.topics,
            quality=self.catalogue.quality,
            params=config.behaviour,
            noise_seed=noise_seed,
            user_profiles={int(u): row for row, u in enumerate(pop.user_ids)},
            visitor_profiles={pop.unique_ids[r]: r for r in range(pop.n_users, pop.n_profiles)},
        )
        _report(progress, "population", 1, 1)

        _report(progress, "history", 0, 1)
        self.sampler = OrderSampler(self.behaviour, self.catalogue, config.popularity_skew)
        histories = self.sampler.sample(
            _rng(seed, _STREAMS["history"]),
            np.arange(pop.n_users, dtype=np.int64),
            pop.history_length,
        )
        # accessed[u]: service ids in the order user u started using them.
        self.accessed: list[list[int]] = histories
        self.owned: list[set[int]] = [{s - 1 for s in h} for h in histories]
        self.projects, self.user_projects = group_projects(
            _rng(seed, _STREAMS["projects"]), pop.user_ids, histories
        )
        self.usage = np.zeros(self.catalogue.n)
        for history in histories:
            self.usage[np.asarray(history, dtype=np.int64) - 1] += 1
        _report(progress, "history", 1, 1)

        self.policy = LoggingPolicy(config.logging_epsilon, self.usage)
        self.search = SearchIndex(self.catalogue, self.vocab, _rng(seed, _STREAMS["search"]))
        self.journeys = Journeys(
            self.catalogue, self.behaviour, self.search, self.policy, self.graph, config.journeys
        )
        self._project_rng = _rng(seed, _STREAMS["window_projects"])
        self.window_start = datetime.combine(config.start, datetime.min.time(), UTC).timestamp()
        self._schedule()
        self.counts = Counts(
            services=self.catalogue.n,
            users=pop.n_users,
            visitors=pop.n_visitors,
            sessions=int(self.session_profiles.shape[0]),
            cold_start_users=int(pop.cold.sum()),
        )

    def _schedule(self) -> None:
        """When every profile visits: Poisson numbers of sessions at daytime-peaked hours."""
        config, pop = self.config, self.population
        rng = _rng(config.seed, _STREAMS["schedule"])
        days = np.full(pop.n_profiles, float(config.days))
        cold = np.zeros(pop.n_profiles, dtype=bool)
        cold[: pop.n_users] = pop.cold
        # New users registered on the last day: they can only have visited on that day.
        days[cold] = 1.0
        n_sessions = rng.poisson(pop.activity * days)
        profiles = np.repeat(np.arange(pop.n_profiles, dtype=np.int64), n_sessions)
        first_day = np.where(cold[profiles], config.days - 1, 0)
        day = first_day + np.floor(rng.random(profiles.size) * days[profiles]).astype(np.int64)
        hour = np.clip(rng.normal(13.0, 3.5, size=profiles.size), 0.0, 23.99)
        starts = self.window_start + day * DAY + hour * 3600.0
        order = np.lexsort((profiles, starts))
        self.session_profiles = profiles[order]
        self.session_starts = starts[order]
        self.session_days = day[order]

    def _identity(self, rng: np.random.Generator, profile: int) -> Identity:
        pop = self.population
        unique_id = pop.unique_ids[profile]
        if profile >= pop.n_users:
            return Identity(unique_id=unique_id)
        aai = pop.aai_uids[profile]
        if aai is not None and rng.random() < self.config.journeys.aai_only_share:
            return Identity(unique_id=unique_id, aai_uid=aai)
        return Identity(unique_id=unique_id, user_id=int(pop.user_ids[profile]), aai_uid=aai)

    def _project_for(self, user: int, chosen: list[int]) -> Callable[[], int]:
        """Where a user's next order goes: its latest project, or a new one now and then."""

        def pick() -> int:
            mine = self.user_projects[user]
            if not mine or self._project_rng.random() < 0.2:
                self.projects.append(
                    {
                        "id": len(self.projects) + 1,
                        "user_id": int(self.population.user_ids[user]),
                        "services": [],
                    }
                )
                mine.append(len(self.projects))
            chosen.append(mine[-1])
            return mine[-1]

        return pick

    def days(self) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
        """Each day's user actions and served panels, in time order across the whole window."""
        config, pop = self.config, self.population
        carried_actions: list[tuple[float, int, dict[str, Any]]] = []
        carried_recs: list[tuple[float, int, dict[str, Any]]] = []
        bounds = np.searchsorted(self.session_days, np.arange(config.days + 1))
        sequence = 0
        for day in range(config.days):
            _report(self.progress, "days", day, config.days)
            rng = _rng(config.seed, _DAY_STREAM + day)
            visit_ids = VisitIds(_rng(config.seed, _VISIT_STREAM + day))
            actions, recs = carried_actions, carried_recs
            for index in range(int(bounds[day]), int(bounds[day + 1])):
                profile = int(self.session_profiles[index])
                is_user = profile < pop.n_users
                can_order = is_user and not bool(pop.cold[profile])
                chosen: list[int] = []
                owned = self.owned[profile] if is_user else set()
                before = set(owned)
                log: SessionLog = self.journeys.session(
                    rng,
                    visit_ids,
                    profile,
                    self._identity(rng, profile),
                    float(self.session_starts[index]),
                    pop.panel[profile],
                    owned,
                    can_order,
                    self._project_for(profile, chosen) if can_order else _no_project,
                )
                for (_, row), project in zip(log.orders, chosen, strict=True):
                    service_id = row + 1
                    self.projects[project - 1]["services"].append(service_id)
                    if row not in before:
                        before.add(row)
                        self.accessed[profile].append(service_id)
                        self.usage[row] += 1
                self.counts.orders += len(log.orders)
                # A sequence number keeps records of equal times in the order they happened.
                for t, record in log.actions:
                    actions.append((t, sequence, record))
                    sequence += 1
                for t, record in log.recommendations:
                    recs.append((t, sequence, record))
                    sequence += 1
            # Records of sessions that run past midnight wait for the next day's batch, so the
            # files come out in time order.
            end = self.window_start + (day + 1) * DAY if day + 1 < config.days else math.inf
            actions.sort(key=lambda item: (item[0], item[1]))
            recs.sort(key=lambda item: (item[0], item[1]))
            cut_a = next((i for i, item in enumerate(actions) if item[0] >= end), len(actions))
            cut_r = next((i for i, item in enumerate(recs) if item[0] >= end), len(recs))
            carried_actions, carried_recs = actions[cut_a:], recs[cut_r:]
            self.policy.refresh(self.usage)
            today_actions = [record for _, _, record in actions[:cut_a]]
            today_recs = [record for _, _, record in recs[:cut_r]]
            self.counts.user_actions += len(today_actions)
            self.counts.recommendations += len(today_recs)
            yield today_actions, today_recs
        _report(self.progress, "days", config.days, config.days)

    def finish(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The dump at the end of the window and the ground truth, future orders included."""
        pop, config = self.population, self.config
        _report(self.progress, "future", 0, 1)
        future = self.sampler.sample(
            _rng(config.seed, _STREAMS["future"]),
            np.arange(pop.n_users, dtype=np.int64),
            np.full(pop.n_users, config.future_orders, dtype=np.int64),
            exclude=[set(a) for a in self.accessed],
        )
        _report(self.progress, "future", 1, 1)
        users = []
        for u in range(pop.n_users):
            record: dict[str, Any] = {"id": int(pop.user_ids[u])}
            if pop.aai_uids[u] is not None:
                record["aai_uid"] = pop.aai_uids[u]
            record["scientific_domains"] = pop.declared_domains[u]
            record["categories"] = pop.declared_categories[u]
            record["accessed_services"] = self.accessed[u]
            users.append(record)
        dump = {
            **self.catalogue.vocabularies,
            "services": self.catalogue.records,
            "users": users,
            "projects": self.projects,
        }
        truth = build_ground_truth(
            config.model_dump(mode="json"),
            self.vocab.clusters,
            self.catalogue,
            pop,
            self.behaviour,
            future,
        )
        return dump, truth


def _no_project() -> int:
    raise RuntimeError("a visitor who cannot order placed an order")


def generate(
    config: SynthConfig,
    *,
    vocabulary: EoscVocabulary | None = None,
    progress: Progress = quiet,
) -> SyntheticMarketplace:
    """A whole marketplace in memory: for tests, demos, simulators and small benchmarks."""
    run = _Simulation(config, vocabulary, progress)
    actions: list[dict[str, Any]] = []
    recommendations: list[dict[str, Any]] = []
    for day_actions, day_recs in run.days():
        actions.extend(day_actions)
        recommendations.extend(day_recs)
    dump, truth = run.finish()
    return SyntheticMarketplace(
        config=config,
        dump=dump,
        user_actions=actions,
        recommendations=recommendations,
        ground_truth=truth,
        behaviour=run.behaviour,
        catalogue=run.catalogue,
        population=run.population,
        graph=run.graph,
        counts=run.counts,
    )


def search_index(
    market: SyntheticMarketplace, vocabulary: EoscVocabulary | None = None
) -> SearchIndex:
    """The marketplace's search index as its generation built it: the same result orders, so
    a simulator that shows search results shows the pages its logged visitors saw."""
    return SearchIndex(
        market.catalogue,
        vocabulary or load_vocabulary(),
        _rng(market.config.seed, _STREAMS["search"]),
    )


OUTPUT_FILES = ("dump.json", "user_actions.jsonl", "recommendations.jsonl", "ground_truth.json")


def write(
    config: SynthConfig,
    output: Path,
    *,
    vocabulary: EoscVocabulary | None = None,
    progress: Progress = quiet,
) -> Counts:
    """Generate and write `OUTPUT_FILES` into `output`, streaming the activity day by day."""
    output.mkdir(parents=True, exist_ok=True)
    run = _Simulation(config, vocabulary, progress)
    newline = orjson.OPT_APPEND_NEWLINE
    with (
        (output / "user_actions.jsonl").open("wb") as actions_file,
        (output / "recommendations.jsonl").open("wb") as recs_file,
    ):
        for day_actions, day_recs in run.days():
            actions_file.write(b"".join(orjson.dumps(a, option=newline) for a in day_actions))
            recs_file.write(b"".join(orjson.dumps(r, option=newline) for r in day_recs))
    dump, truth = run.finish()
    _report(progress, "write", 0, 1)
    (output / "dump.json").write_bytes(orjson.dumps(dump))
    (output / "ground_truth.json").write_bytes(orjson.dumps(truth))
    _report(progress, "write", 1, 1)
    return run.counts


def save(market: SyntheticMarketplace, output: Path) -> None:
    """Write an in-memory marketplace as the same `OUTPUT_FILES` that `write` streams."""
    output.mkdir(parents=True, exist_ok=True)
    newline = orjson.OPT_APPEND_NEWLINE
    for name, records in (
        ("user_actions.jsonl", market.user_actions),
        ("recommendations.jsonl", market.recommendations),
    ):
        (output / name).write_bytes(b"".join(orjson.dumps(r, option=newline) for r in records))
    (output / "dump.json").write_bytes(orjson.dumps(market.dump))
    (output / "ground_truth.json").write_bytes(orjson.dumps(market.ground_truth))


def write_bundle(market: SyntheticMarketplace, path: Path) -> int:
    """One JSON file `{"dump", "user_actions", "recommendations"}` (the demo's format).

    One record per line keeps the committed demo fixture reviewable in diffs. Returns its size.
    """

    def array(records: list[dict[str, Any]]) -> str:
        body = ",\n".join(orjson.dumps(r).decode() for r in records)
        return f"[\n{body}\n]" if records else "[]"

    dump = ",\n".join(f'"{name}": {array(records)}' for name, records in market.dump.items())
    text = (
        f'{{\n"dump": {{\n{dump}\n}},\n'
        f'"user_actions": {array(market.user_actions)},\n'
        f'"recommendations": {array(market.recommendations)}\n}}\n'
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return len(text.encode())
