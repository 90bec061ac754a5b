"""How much a session can tell about an anonymous visitor in the synthetic marketplace: the
panels engines rank from it against rankers that read the simulator's hidden truth.

    .venv/bin/python -m benchmarks.session_headroom --seeds 5

Per seed: the synthetic marketplace `benchmarks.online` uses (`--services`, `--users`,
`--history-days`), the engines fitted on its log, and `--anonymous` sessions of anonymous
visitors who browse (`MarketplaceEnv(browse=True)`). Every session is driven by one policy
(popularity's panels), so each page, its candidates and the session before it (the services
clicked on panels and opened from search results) are the same for every ranker, and each
ranker's panel is scored by its expected clicks under the choice model (examination times
click probability, no draws): the comparison is exact, paired and free of sampling noise.

Rankers, each within the page's candidates:

- `popularity`: popularity in the search's context (its domains and categories), what an
  anonymous visitor gets with sessions off when no engine can personalise;
- `popularity, session's searches`: popularity in the context of the scientific domains
  and categories of every search of the session so far, opened services left out;
- `off:<engine>`: an engine with the search's domains and categories and no session (what
  the server's "sessions off" serves, ncf by default);
- `<engine>`: an engine reading the session as history, services opened in it left out
  (the server's default), and `<engine> again`: opened ones may be shown again;
- `truth: opened`: ranks by the affinity the choice model would give a visitor whose
  interests were the mean of the opened services' true topic mixtures (their hidden truth,
  and the model's own weights), opened ones left out, and `truth: opened again`;
- `truth: posterior`: the Bayes ranker of a session. It knows the choice model, its
  parameters, the prior the visitors' interests are drawn from and the community the
  session's searches come from, and it reads every click and every examined service not
  clicked in the session (panels and search results). It ranks by the posterior mean of the
  click probability (`--samples` interest vectors drawn from the prior, weighted by the
  session's likelihood), opened ones left out: more than any engine can know, so a ceiling
  for what a session's clicks reveal;
- `truth: community`: the posterior ranker told the searched community and not the
  session, the best a server with sessions off could do with the search (opened services
  may be shown, as with sessions off), and `truth: community, opened left out`;
- `truth: posterior, session alone`: the posterior ranker not told the community: what the
  session's clicks alone reveal to a server that does not read the search;
- `truth: interests`: the visitor's hidden interests themselves (no pair noise), opened
  ones left out: what no session reveals in full.

Printed: each ranker's expected clicks per panel over popularity's, mean of the seeds with
a 95 % t-interval, over all panels and over the panels whose session holds something; then
paired ratios (what the session adds to the posterior ranker, each session-reading engine
over sessions off), per seed.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from benchmarks.online import add_marketplace_arguments, names
from recommender.arrays import BoolArray, DoubleArray, IntArray
from recommender.engines.base import Model
from recommender.simulation.environment import MarketplaceEnv, Observation, Step
from recommender.simulation.policies import EnginePolicy
from recommender.simulation.runner import t_interval
from recommender.simulation.schedule import Context
from recommender.simulation.training import fit_engine, marketplace_interactions
from recommender.simulation.visitors import anonymous_episodes
from recommender.synthetic import SynthConfig, generate
from recommender.synthetic.behaviour import BehaviourModel
from recommender.synthetic.population import INTEREST_CONCENTRATION
from recommender.synthetic.vocabulary import cluster_shares, load_vocabulary

# A ranker sees the page, the visitor's hidden profile row and what the session showed it
# (only `truth:` rankers read the last two).
Ranker = Callable[[Observation, int, "Evidence"], IntArray]
SCOPES = ("all panels", "after something opened")


def _no_history(observation: Observation) -> Observation:
    return replace(observation, history=np.zeros(0, dtype=np.int64))


def _with_searches(observation: Observation, searches: list[Mapping[str, Any]]) -> Observation:
    """The page's search with the scientific domains and categories of the session's earlier
    searches added, as a server remembering them in the session could query."""
    search = dict(observation.search_data)
    for key in ("scientific_domains", "categories"):
        values = [v for past in searches for v in past.get(key, ())]
        values += list(search.get(key, ()))
        if values:
            search[key] = list(dict.fromkeys(values))
    return replace(observation, search_data=search)


def _without_opened(observation: Observation) -> Observation:
    kept = observation.candidates[~np.isin(observation.candidates, observation.history)]
    return replace(observation, candidates=kept)


@dataclass(frozen=True)
class Truth:
    """Rankers that read the choice model's hidden parameters."""

    behaviour: BehaviourModel

    def by_mixture(self, observation: Observation, mixture: DoubleArray) -> IntArray:
        """The candidates a visitor with interests `mixture` would like most (no pair noise)."""
        candidates = observation.candidates
        rows = self.behaviour.rows(candidates)
        params = self.behaviour.params
        value = (
            params.topic_weight * (self.behaviour.topics[rows] @ mixture)
            + params.quality_weight * self.behaviour.quality[rows]
        )
        best = np.lexsort((candidates, -value))[: observation.panel_size]
        return np.asarray(candidates[best], dtype=np.int64)

    def topics_of(self, services: IntArray) -> DoubleArray:
        return np.asarray(self.behaviour.topics[self.behaviour.rows(services)].mean(axis=0))

    def opened(self, observation: Observation) -> IntArray | None:
        if not observation.history.shape[0]:
            return None
        return self.by_mixture(observation, self.topics_of(observation.history))

    def click_probability(self, mixtures: DoubleArray, services: IntArray) -> DoubleArray:
        """P(click | examined) of each service for each row of interest mixtures, the pair
        noise integrated out (the probit approximation of a logistic-normal mean)."""
        rows = self.behaviour.rows(services)
        params = self.behaviour.params
        value = (
            params.topic_weight * (mixtures @ self.behaviour.topics[rows].T)
            + params.quality_weight * self.behaviour.quality[rows]
            + params.click_offset
        )
        spread = np.sqrt(1.0 + np.pi * params.noise_scale**2 / 8.0)
        return np.asarray(1.0 / (1.0 + np.exp(-value / spread)))

    def expected_clicks(self, profile: int, shown: IntArray) -> float:
        if not shown.shape[0]:
            return 0.0
        affinity = self.behaviour.affinity(profile, shown)
        examined = self.behaviour.examine_probability(int(shown.shape[0]), "panel")
        return float((examined * self.behaviour.click_given_examined(affinity)).sum())


class Evidence:
    """What one session showed a visitor and what it clicked, as weights over interest
    vectors drawn from the population's prior."""

    def __init__(self, truth: Truth, prior: DoubleArray, cluster: int, samples: int, seed: int):
        self.truth = truth
        rng = np.random.default_rng(seed)
        self.mixtures = rng.dirichlet(prior, size=samples)
        # The session's searches come from one of the visitor's communities, drawn from its
        # interests: the ranker is told which.
        self.searched = np.log(np.maximum(self.mixtures[:, cluster], 1e-300))
        # The log-likelihood of what the session's visitor clicked and did not.
        self.clicks = np.zeros(samples)
        # The search filters of the session's pages so far.
        self.searches: list[Mapping[str, Any]] = []

    def observe(self, shown: IntArray, clicked: BoolArray, examined: DoubleArray) -> None:
        """Update on a list whose positions were examined with probabilities `examined`."""
        if not shown.shape[0]:
            return
        p = examined * self.truth.click_probability(self.mixtures, shown)
        p = np.clip(p, 1e-12, 1 - 1e-12)
        self.clicks += np.where(clicked, np.log(p), np.log1p(-p)).sum(axis=1)

    def rank(
        self, observation: Observation, *, session: bool = True, community: bool = True
    ) -> IntArray:
        """The best candidates by the posterior mean click probability, from the session's
        clicks and the searched community, or from either alone."""
        candidates = observation.candidates
        log_weight = np.zeros_like(self.clicks)
        if community:
            log_weight += self.searched
        if session:
            log_weight += self.clicks
        weight = np.exp(log_weight - log_weight.max())
        expected = weight @ self.truth.click_probability(self.mixtures, candidates)
        best = np.lexsort((candidates, -expected))[: observation.panel_size]
        return np.asarray(candidates[best], dtype=np.int64)


def observe_step(
    evidence: Evidence, env: MarketplaceEnv, observation: Observation, step: Step
) -> None:
    """Feed a step's panel and its page of search results to `evidence`: a result the visitor
    clicked in the panel tells nothing more, nor do results after the last opened one once
    the page's journeys ran out."""
    behaviour = evidence.truth.behaviour
    shown = step.shown
    evidence.observe(
        shown, step.clicked, behaviour.examine_probability(int(shown.shape[0]), "panel")
    )
    matches = np.isin(env.service_ids, observation.candidates)
    results = env.results(Context(search_data=observation.search_data, matches=matches))
    opened = np.isin(results, step.opened)
    informative = ~np.isin(results, shown[step.clicked])
    room = max(env.max_opened - int(step.clicked.sum()), 0)
    if int(opened.sum()) >= room and opened.any():
        informative[int(np.flatnonzero(opened)[-1]) + 1 :] = False
    examined = behaviour.examine_probability(int(results.shape[0]), "list")
    evidence.observe(results[informative], opened[informative], examined[informative])


def session_readers(policy: EnginePolicy) -> tuple[Ranker, Ranker]:
    """An engine reading the session: opened services left out, and shown again."""

    def leaving_out(o: Observation, p: int, e: Evidence) -> IntArray:
        return policy(_without_opened(o))

    def again(o: Observation, p: int, e: Evidence) -> IntArray:
        return policy(o)

    return leaving_out, again


def rankers(truth: Truth, models: Mapping[str, Model], off_engine: str) -> dict[str, Ranker]:
    popular = models["popularity"]
    popularity = EnginePolicy(popular)
    out: dict[str, Ranker] = {
        "popularity": lambda o, p, e: popularity(_no_history(o)),
    }
    out["popularity, session's searches"] = lambda o, p, e: popularity(
        _with_searches(_no_history(_without_opened(o)), e.searches)
    )
    off = EnginePolicy(models[off_engine], popular)
    out[f"off:{off_engine}"] = lambda o, p, e: off(_no_history(o))
    for name, model in models.items():
        if name == "popularity":
            continue
        out[name], out[f"{name} again"] = session_readers(EnginePolicy(model, popular))

    def with_fallback(rank: Callable[[Observation], IntArray | None]) -> Ranker:
        def ranked(o: Observation, p: int, e: Evidence) -> IntArray:
            found = rank(o)
            return found if found is not None else popularity(_no_history(o))

        return ranked

    out["truth: opened"] = with_fallback(lambda o: truth.opened(_without_opened(o)))
    out["truth: opened again"] = with_fallback(truth.opened)
    out["truth: community"] = lambda o, p, e: e.rank(o, session=False)
    out["truth: community, opened left out"] = lambda o, p, e: e.rank(
        _without_opened(o), session=False
    )
    out["truth: posterior, session alone"] = lambda o, p, e: e.rank(
        _without_opened(o), community=False
    )
    out["truth: posterior"] = lambda o, p, e: e.rank(_without_opened(o))
    out["truth: interests"] = lambda o, p, e: truth.by_mixture(
        _without_opened(o), truth.behaviour.interests[p]
    )
    return out


def run_seed(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    market = generate(
        SynthConfig(services=args.services, users=args.users, days=args.history_days, seed=seed)
    )
    began = time.perf_counter()
    data = marketplace_interactions(market)
    engines = ["popularity", *dict.fromkeys([args.off_engine, *names(args.engines)])]
    models = {name: fit_engine(name, data, seed=seed) for name in engines}
    fit_s = time.perf_counter() - began
    truth = Truth(market.behaviour)
    ranked = rankers(truth, models, args.off_engine)
    env = MarketplaceEnv(market, steps=args.steps, seed=seed, browse=True)
    prior = INTEREST_CONCENTRATION * cluster_shares(load_vocabulary().clusters)
    clicks = {scope: dict.fromkeys(ranked, 0.0) for scope in SCOPES}
    panels = dict.fromkeys(SCOPES, 0)
    for episode in anonymous_episodes(env, args.anonymous):
        observation = env.reset(episode)
        profile = market.behaviour.profile_of(observation.user_id, observation.unique_id)
        assert profile is not None
        cluster = env.schedule.visitor(episode).cluster
        evidence = Evidence(truth, prior, cluster, args.samples, seed * 1_000_003 + episode)
        while True:
            scopes = SCOPES if observation.history.shape[0] else SCOPES[:1]
            for scope in scopes:
                panels[scope] += 1
            for name, rank in ranked.items():
                expected = truth.expected_clicks(profile, rank(observation, profile, evidence))
                for scope in scopes:
                    clicks[scope][name] += expected
            step = env.step(ranked["popularity"](observation, profile, evidence))
            observe_step(evidence, env, observation, step)
            evidence.searches.append(observation.search_data)
            if step.done:
                break
            observation = step.observation
    ratios = {
        scope: {
            name: clicks[scope][name] / max(clicks[scope]["popularity"], 1e-12) for name in ranked
        }
        for scope in SCOPES
    }
    per_panel = {name: clicks["all panels"][name] / panels["all panels"] for name in ranked}
    print(
        f"seed {seed}: {panels['all panels']} panels, {panels[SCOPES[1]]} after something "
        f"opened, popularity's expected clicks per panel {per_panel['popularity']:.4f}; "
        f"fits {fit_s:.0f} s",
        flush=True,
    )
    return {
        "seed": seed,
        "panels": panels,
        "clicks_per_panel": per_panel,
        "ratio": ratios,
        "fit_s": fit_s,
    }


def pairs(engines: list[str], off_engine: str) -> list[tuple[str, str]]:
    """The paired ratios printed beside the table: what the session adds to each ranker."""
    return [
        ("truth: posterior", "truth: community, opened left out"),
        ("truth: posterior", "truth: community"),
        *((name, f"off:{off_engine}") for name in engines),
        *((f"{name} again", f"off:{off_engine}") for name in engines),
    ]


def summary(results: list[dict[str, Any]], compared: list[tuple[str, str]]) -> str:
    rankers_seen = list(results[0]["ratio"]["all panels"])
    lines = [
        f"## Expected clicks per panel over popularity's, {len(results)} seeds [95 % t-interval]",
        "",
        "| ranker | " + " | ".join(SCOPES) + " |",
        "|---|" + "---:|" * len(SCOPES),
    ]
    for name in rankers_seen:
        cells = []
        for scope in SCOPES:
            values = [r["ratio"][scope][name] for r in results]
            low, high = t_interval(values)
            cells.append(f"{float(np.mean(values)):.3f} [{low:.3f}, {high:.3f}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Paired, per seed: one ranker's expected clicks over another's", ""]
    for top, bottom in compared:
        for scope in SCOPES:
            values = [r["ratio"][scope][top] / r["ratio"][scope][bottom] for r in results]
            low, high = t_interval(values)
            each = ", ".join(f"{v:.3f}" for v in values)
            lines.append(
                f"- {top} / {bottom}, {scope}: {float(np.mean(values)):.3f} "
                f"[{low:.3f}, {high:.3f}] (per seed {each})"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_marketplace_arguments(parser)
    parser.add_argument("--anonymous", type=int, default=300, help="anonymous sessions per seed")
    parser.add_argument("--engines", default="ials,itemknn", help="session-reading engines")
    parser.add_argument(
        "--samples", type=int, default=4000, help="interest vectors of the posterior ranker"
    )
    parser.add_argument("--off-engine", default="ncf", help="what sessions off serves")
    parser.add_argument("--json", help="write every seed's figures to this file")
    args = parser.parse_args()
    results = [
        run_seed(seed, args) for seed in range(args.first_seed, args.first_seed + args.seeds)
    ]
    print(summary(results, pairs(names(args.engines), args.off_engine)))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)


if __name__ == "__main__":
    main()
