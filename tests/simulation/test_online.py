from __future__ import annotations

import numpy as np

from recommender.engines.base import Model
from recommender.engines.rl import RLEngine
from recommender.interactions import Interactions
from recommender.simulation import (
    EnginePolicy,
    MarketplaceEnv,
    fit_engine,
    marketplace_data,
    rollout,
)
from recommender.simulation.online import CHECKS_FROM, OnlineSchedule, collect, train_online
from recommender.synthetic import SyntheticMarketplace

SMALL = {"factors": 8, "hidden": 32, "steps": 200, "eval_every": 50, "batch_size": 64}


def test_played_episodes_become_experience_as_the_visitors_answered(
    market: SyntheticMarketplace, data: Interactions
) -> None:
    model = RLEngine(SMALL).fit(data)
    env = MarketplaceEnv(market, steps=3, seed=5)
    x = collect(model, env, range(4), np.random.default_rng(0), spread=0.5, panel=3)
    # Four episodes of three panels: a row each, chained to the next, the last one done.
    assert len(x) == 12
    assert x.next_state.tolist() == [r + 1 if (r + 1) % 3 else -1 for r in range(12)]
    assert x.panel.all()
    # Replaying the same episodes gives the same panels and the same rewards.
    again = collect(model, env, range(4), np.random.default_rng(0), spread=0.5, panel=3)
    assert np.array_equal(x.actions, again.actions)
    assert np.allclose(x.rewards, again.rewards)
    shown = x.actions != x.pad_item
    assert (x.rewards[~shown] == 0).all()
    assert set(np.unique(x.rewards[shown]).round(4)) <= {0.0, 0.25, 1.25}


def test_online_training_learns_from_the_episodes_it_played(
    market: SyntheticMarketplace, popularity: Model
) -> None:
    logged = marketplace_data(market)
    env = MarketplaceEnv(market, steps=3, seed=11)
    # The agent alone: blended with a collaborative model in a small share (as validation
    # may choose here), what online rounds teach the actor would barely show in its panels.
    alone = {**SMALL, "correction": 1.0}
    schedule = OnlineSchedule(
        episodes=40, episodes_per_round=20, updates_per_round=20, check_episodes=20
    )
    model = train_online(
        logged.interactions,
        env,
        params=alone,
        transitions=logged.transitions,
        fallback=popularity,
        schedule=schedule,
    )
    offline = fit_engine("rl", logged.interactions, alone, transitions=logged.transitions)
    # Its experience grew by the 40 episodes of 3 panels it played.
    assert model.meta["transitions"] == offline.meta["transitions"] + 120
    # What it learned from them changed the policy: the actor is not the offline one ...
    assert not np.allclose(model.arrays["head.weight"], offline.arrays["head.weight"])

    def earned(policy: Model) -> float:
        checked = rollout(env, EnginePolicy(policy, popularity), 20, first=CHECKS_FROM)
        return float(checked.returns.mean())

    # ... and it earns more on the practice sessions that judged each round than the offline
    # policy it started from (a round that earned less there would have been undone).
    assert earned(model) > earned(offline)
