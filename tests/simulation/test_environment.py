"""The environment: deterministic sessions, the same visitors for every policy, and the rules
of a panel (what may be shown, what a click and an order change)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from recommender.engines.base import Model
from recommender.simulation import EnginePolicy, MarketplaceEnv, Observation, OraclePolicy, Policy
from recommender.simulation.visitors import anonymous_episodes
from recommender.synthetic import SyntheticMarketplace


def first_candidates(observation: Observation) -> list[int]:
    """A plain policy: the candidates with the lowest ids."""
    return observation.candidates[: observation.panel_size].tolist()


def trace(env: MarketplaceEnv, policy: Policy, episodes: range) -> list[tuple[Any, ...]]:
    """Everything visible of some episodes: who came, what they searched, what happened."""
    out: list[tuple[Any, ...]] = []
    for episode in episodes:
        observation = env.reset(episode)
        done = False
        while not done:
            step = env.step(policy(observation))
            out.append(
                (
                    observation.unique_id,
                    observation.user_id,
                    dict(observation.search_data),
                    observation.candidates.tolist(),
                    step.shown.tolist(),
                    step.clicked.tolist(),
                    step.ordered.tolist(),
                    step.rewards.tolist(),
                )
            )
            observation, done = step.observation, step.done
    return out


def contexts(env: MarketplaceEnv, policy: Policy, episodes: range) -> list[tuple[Any, ...]]:
    """Only what the visitor brings: identity, declared interests and each step's search."""
    return [(row[0], row[1], row[2]) for row in trace(env, policy, episodes)]


def filtered_episode(env: MarketplaceEnv, market: SyntheticMarketplace) -> tuple[Observation, int]:
    """A registered visitor with a history whose search leaves out some service it does not
    use, and that service."""
    for episode in range(500):
        observation = env.reset(episode)
        if observation.user_id is None or not observation.owned.shape[0]:
            continue
        outside = set(market.catalogue.ids.tolist()) - set(observation.candidates.tolist())
        outside -= set(observation.owned.tolist())
        if outside and observation.candidates.shape[0] >= 4:
            return observation, min(outside)
    raise AssertionError("no such visitor in 500 episodes")


def test_the_same_seed_replays_the_same_sessions(market: SyntheticMarketplace) -> None:
    oracle = OraclePolicy(market.behaviour)
    first = trace(MarketplaceEnv(market, seed=5), oracle, range(30))
    again = trace(MarketplaceEnv(market, seed=5), oracle, range(30))
    other = trace(MarketplaceEnv(market, seed=6), oracle, range(30))
    assert first == again
    assert [row[0] for row in first] != [row[0] for row in other]


def test_every_policy_meets_the_same_visitors_with_the_same_searches(
    market: SyntheticMarketplace, random_model: Model
) -> None:
    env = MarketplaceEnv(market, seed=5)
    oracle = contexts(env, OraclePolicy(market.behaviour), range(40))
    shuffled = contexts(env, EnginePolicy(random_model), range(40))
    assert oracle == shuffled
    # And an episode is the same whatever ran before it.
    late = MarketplaceEnv(market, seed=5).reset(17)
    assert late.unique_id == env.reset(17).unique_id
    assert late.search_data == env.reset(17).search_data


def test_panels_of_the_same_services_get_the_same_responses(
    market: SyntheticMarketplace,
) -> None:
    env = MarketplaceEnv(market, steps=1, seed=5)
    responses = []
    for _ in range(2):
        observation = env.reset(4)
        responses.append(env.step(first_candidates(observation)).clicked.tolist())
    assert responses[0] == responses[1]


def test_invalid_services_are_dropped_and_earn_nothing(market: SyntheticMarketplace) -> None:
    env = MarketplaceEnv(market, seed=5)
    observation, filtered = filtered_episode(env, market)
    owned = int(observation.owned[0])
    unknown = int(market.catalogue.ids.max()) + 1
    a, b, c, d = observation.candidates[:4].tolist()
    assert owned not in observation.candidates
    step = env.step([unknown, filtered, owned, a, a, b, c, d])
    assert step.shown.tolist() == [a, b, c]
    assert step.dropped.tolist() == [unknown, filtered, owned, a, d]
    assert step.rewards.shape == step.clicked.shape == step.ordered.shape == (3,)


def test_a_policy_showing_only_invalid_services_earns_nothing(
    market: SyntheticMarketplace,
) -> None:
    env = MarketplaceEnv(market, seed=5)
    everything = set(market.catalogue.ids.tolist())
    unknown = int(market.catalogue.ids.max()) + 1

    def invalid(observation: Observation) -> list[int]:
        outside = everything - set(observation.candidates.tolist())
        return [unknown, *sorted(outside), *observation.owned.tolist()]

    total = 0.0
    for episode in range(100):
        observation = env.reset(episode)
        done = False
        while not done:
            step = env.step(invalid(observation))
            assert step.shown.shape == (0,)
            total += step.reward
            observation, done = step.observation, step.done
    assert total == 0.0


def test_clicks_join_the_history_and_orders_become_used(market: SyntheticMarketplace) -> None:
    env = MarketplaceEnv(market, seed=5)
    oracle = OraclePolicy(market.behaviour)
    for episode in range(300):
        observation = env.reset(episode)
        done = False
        while not done:
            step = env.step(oracle(observation))
            after = step.observation
            for service, clicked, ordered in zip(
                step.shown.tolist(), step.clicked, step.ordered, strict=True
            ):
                if clicked:
                    assert service in after.history[-int(step.clicked.sum()) :]
                if ordered:
                    assert service in after.owned
                    assert service not in after.candidates
            if step.ordered.any():
                return
            observation, done = after, step.done
    raise AssertionError("the oracle's panels never led to an order")


def test_anonymous_visitors_never_order_and_registered_ones_do(
    market: SyntheticMarketplace,
) -> None:
    env = MarketplaceEnv(market, seed=5)
    oracle = OraclePolicy(market.behaviour)
    orders = {"anonymous": 0, "registered": 0}
    for episode in range(300):
        observation = env.reset(episode)
        kind = "anonymous" if observation.user_id is None else "registered"
        done = False
        while not done:
            step = env.step(oracle(observation))
            orders[kind] += int(step.ordered.sum())
            observation, done = step.observation, step.done
    assert orders["anonymous"] == 0
    assert orders["registered"] > 0


def test_visitors_come_in_the_population_proportions(market: SyntheticMarketplace) -> None:
    env = MarketplaceEnv(market, seed=5)
    firsts = [env.reset(episode) for episode in range(1000)]
    population = market.population
    anonymous = np.mean([o.user_id is None for o in firsts])
    new_users = np.mean([o.user_id is not None and o.history.shape[0] == 0 for o in firsts])
    assert anonymous == pytest.approx(population.n_visitors / population.n_profiles, abs=0.05)
    assert new_users == pytest.approx(population.cold.sum() / population.n_profiles, abs=0.05)


def test_candidates_are_recommendable_matches_of_the_search(
    market: SyntheticMarketplace,
) -> None:
    env = MarketplaceEnv(market, seed=5)
    recommendable = set(market.catalogue.ids[market.catalogue.recommendable].tolist())
    sizes = set()
    for episode in range(50):
        observation = env.reset(episode)
        assert set(observation.candidates.tolist()) <= recommendable
        assert "sort" in observation.search_data
        sizes.add(observation.candidates.shape[0])
    # Some searches filter, others show the whole catalogue.
    assert len(sizes) > 1


def test_an_episode_ends_after_its_steps(market: SyntheticMarketplace) -> None:
    env = MarketplaceEnv(market, steps=3, panel_id="v2", seed=5)
    with pytest.raises(RuntimeError, match="reset"):
        env.step([1])
    observation = env.reset()
    flags = []
    for _ in range(3):
        step = env.step(observation.candidates[:5].tolist())
        assert step.shown.shape[0] <= 2
        flags.append(step.done)
        observation = step.observation
    assert flags == [False, False, True]
    assert observation.candidates.shape == (0,)
    with pytest.raises(RuntimeError, match="reset"):
        env.step([1])
    assert env.reset().episode == 1


def test_browsing_off_opens_nothing_and_only_panel_clicks_join_the_history(
    market: SyntheticMarketplace,
) -> None:
    env = MarketplaceEnv(market, seed=5)
    oracle = OraclePolicy(market.behaviour)
    for episode in range(40):
        observation = env.reset(episode)
        history = observation.history.tolist()
        done = False
        while not done:
            step = env.step(oracle(observation))
            assert step.opened.shape == step.opened_ordered.shape == (0,)
            for service in step.shown[step.clicked].tolist():
                if service in history:
                    history.remove(service)
                history.append(service)
            assert step.observation.history.tolist() == history
            observation, done = step.observation, step.done


def test_browsing_leaves_the_panels_and_their_draws_as_they_were(
    market: SyntheticMarketplace,
) -> None:
    # Opened services reshape the history, so compare a policy that ignores it; orders from
    # the results change later candidates, so compare visitors who cannot order: the same
    # pages, panels and panel responses with browsing on and off.
    plain = MarketplaceEnv(market, seed=5)
    episodes = anonymous_episodes(plain, 30)
    browsing = MarketplaceEnv(market, seed=5, browse=True)
    before = [trace(plain, first_candidates, range(e, e + 1)) for e in episodes]
    after = [trace(browsing, first_candidates, range(e, e + 1)) for e in episodes]
    assert [[row[:6] for row in rows] for rows in after] == [
        [row[:6] for row in rows] for rows in before
    ]


def browse_trace(env: MarketplaceEnv, policy: Policy, episodes: range) -> list[tuple[Any, ...]]:
    """Per step: the results page, what was opened and ordered from it, and the history after."""
    out: list[tuple[Any, ...]] = []
    for episode in episodes:
        observation = env.reset(episode)
        done = False
        while not done:
            visitor = env.schedule.visitor(episode)
            results = env.results(env.schedule.context(episode, observation.step, visitor))
            step = env.step(policy(observation))
            out.append(
                (
                    results.tolist(),
                    step.shown[step.clicked].tolist(),
                    step.opened.tolist(),
                    step.opened_ordered.tolist(),
                    step.observation.history.tolist(),
                    step.observation.owned.tolist(),
                )
            )
            observation, done = step.observation, step.done
    return out


def test_opened_results_join_the_history_after_the_panel_clicks(
    market: SyntheticMarketplace,
) -> None:
    env = MarketplaceEnv(market, seed=5, browse=True)
    rows = browse_trace(env, OraclePolicy(market.behaviour), range(150))
    opened = [row for row in rows if row[2]]
    assert len(opened) > 20
    for results, clicks, services, ordered, history, owned in rows:
        assert len(services) == len(ordered) == len(set(services))
        # Opened services come from the page, in page order, never twice with a panel click,
        # and no more journeys per page than the generator's visitors start.
        assert services == [s for s in results if s in services]
        assert not set(services) & set(clicks)
        assert len(clicks) + len(services) <= max(len(clicks), env.max_opened)
        visited = clicks + services
        assert history[len(history) - len(visited) :] == visited
        assert all(s in owned for s, o in zip(services, ordered, strict=True) if o)


def test_results_pages_are_the_searchs_matches_in_the_index_order(
    market: SyntheticMarketplace,
) -> None:
    env = MarketplaceEnv(market, seed=5, browse=True)
    for episode in range(30):
        observation = env.reset(episode)
        visitor = env.schedule.visitor(episode)
        results = env.results(env.schedule.context(episode, 0, visitor))
        matches = set(env.service_ids[env.schedule.context(episode, 0, visitor).matches].tolist())
        assert set(results.tolist()) <= matches
        assert results.shape[0] == min(10, len(matches))
        assert set(observation.candidates.tolist()) <= matches


def test_browsing_is_the_same_for_a_seed_and_for_every_policy_that_shows_the_same(
    market: SyntheticMarketplace, random_model: Model
) -> None:
    oracle = OraclePolicy(market.behaviour)
    first = browse_trace(MarketplaceEnv(market, seed=5, browse=True), oracle, range(40))
    again = browse_trace(MarketplaceEnv(market, seed=5, browse=True), oracle, range(40))
    other = browse_trace(MarketplaceEnv(market, seed=6, browse=True), oracle, range(40))
    assert first == again
    assert first != other
    # Another policy meets the same results pages; without panel clicks in the way it opens
    # the same services from them.
    env = MarketplaceEnv(market, seed=5, browse=True)
    shuffled = browse_trace(env, EnginePolicy(random_model), range(40))
    assert [row[0] for row in shuffled] == [row[0] for row in first]
    same = [(a[2], b[2]) for a, b in zip(first, shuffled, strict=True) if not a[1] and not b[1]]
    assert same and all(x == y for x, y in same)


def test_anonymous_visitors_never_order_what_they_open(market: SyntheticMarketplace) -> None:
    env = MarketplaceEnv(market, seed=5, browse=True)
    oracle = OraclePolicy(market.behaviour)
    orders = {"anonymous": 0, "registered": 0}
    for episode in range(300):
        observation = env.reset(episode)
        kind = "anonymous" if observation.user_id is None else "registered"
        done = False
        while not done:
            step = env.step(oracle(observation))
            orders[kind] += int(step.opened_ordered.sum())
            observation, done = step.observation, step.done
    assert orders["anonymous"] == 0
    assert orders["registered"] > 0
