"""Policies: engines served with serving's rules, and the ordering that true interests give."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from recommender.engines.base import Model
from recommender.interactions import Interactions
from recommender.simulation import (
    EnginePolicy,
    MarketplaceEnv,
    Observation,
    OraclePolicy,
    fit_engine,
    query_of,
    rollout,
)
from recommender.synthetic import SyntheticMarketplace


def observations(env: MarketplaceEnv, episodes: int) -> list[Observation]:
    return [env.reset(episode) for episode in range(episodes)]


def test_the_query_adds_the_search_s_domains_and_categories(
    market: SyntheticMarketplace,
) -> None:
    observation = replace(
        MarketplaceEnv(market, seed=2).reset(0),
        scientific_domains=(4, 9),
        categories=(2,),
        search_data={"scientific_domains": [9, 11], "categories": [5], "sort": "_score"},
        history=np.array([7, 3], dtype=np.int64),
    )
    query = query_of(observation)
    assert query.scientific_domains == (4, 9, 11)
    assert query.categories == (2, 5)
    assert query.history.tolist() == [7, 3]
    assert query.user_id == observation.user_id


def test_an_engine_shows_a_full_panel_of_candidates_and_never_what_is_used(
    market: SyntheticMarketplace, data: Interactions, popularity: Model
) -> None:
    policy = EnginePolicy(fit_engine("ease", data), popularity)
    for observation in observations(MarketplaceEnv(market, seed=2), 60):
        panel = policy(observation)
        assert len(set(panel.tolist())) == panel.shape[0]
        assert panel.shape[0] == min(3, observation.candidates.shape[0])
        assert set(panel.tolist()) <= set(observation.candidates.tolist())
        assert not set(panel.tolist()) & set(observation.owned.tolist())


def test_visitors_the_model_does_not_know_get_popularity(
    market: SyntheticMarketplace, data: Interactions, popularity: Model
) -> None:
    knn = EnginePolicy(fit_engine("itemknn", data), popularity)
    popular = EnginePolicy(popularity)
    unknown = [o for o in observations(MarketplaceEnv(market, seed=2), 80) if not o.history.size]
    assert unknown
    for observation in unknown:
        assert knn(observation).tolist() == popular(observation).tolist()


def test_services_a_model_cannot_score_come_last(
    market: SyntheticMarketplace, data: Interactions
) -> None:
    known = data.item_ids[:30]
    events = data.events
    assert events is not None
    keep = events.items < 30
    partial = Interactions.from_events(
        data.user_ids[events.users[keep]],
        data.item_ids[events.items[keep]],
        events.weights[keep],
        user_ids=data.user_ids,
        item_ids=known,
    )
    policy = EnginePolicy(fit_engine("popularity", partial))
    observation = MarketplaceEnv(market, seed=2).reset(0)
    scored = [int(s) for s in observation.candidates if s in known][:2]
    unscored = [int(s) for s in observation.candidates if s not in known][:3]
    narrow = replace(observation, candidates=np.array(sorted(scored + unscored), dtype=np.int64))
    panel = policy(narrow).tolist()
    assert sorted(panel[:2]) == sorted(scored)
    assert panel[2] == min(unscored)


def test_the_oracle_earns_clearly_more_than_random_and_popularity_beats_random(
    market: SyntheticMarketplace, popularity: Model, random_model: Model
) -> None:
    env = MarketplaceEnv(market, seed=9)
    oracle = rollout(env, OraclePolicy(market.behaviour), 300).returns.mean()
    popular = rollout(env, EnginePolicy(popularity), 300).returns.mean()
    shuffled = rollout(env, EnginePolicy(random_model, popularity), 300).returns.mean()
    assert oracle > 2 * shuffled
    assert oracle > popular
    assert popular > 1.5 * shuffled
