"""Rewards follow `RewardValues`: a click pays the catalogue -> service move, an order more."""

from __future__ import annotations

import pytest

from recommender.contract.rewards import RewardValues
from recommender.simulation import MarketplaceEnv, OraclePolicy, PanelRewards, rollout
from recommender.synthetic import SyntheticMarketplace


def test_a_click_pays_the_service_page_move_and_an_order_adds_its_value() -> None:
    values = RewardValues(mild_interest=0.3, interest=0.6, order=2.0)
    rewards = PanelRewards.of(values)
    # The Marketplace labels the move from the catalogue to a service page `mild_interest`.
    assert rewards.click == 0.3
    assert rewards.order == 2.0


def test_each_slot_is_paid_for_its_click_and_its_order(market: SyntheticMarketplace) -> None:
    values = RewardValues()
    env = MarketplaceEnv(market, seed=8, rewards=values)
    oracle = OraclePolicy(market.behaviour)
    paid_orders = 0
    for episode in range(100):
        observation = env.reset(episode)
        done = False
        while not done:
            step = env.step(oracle(observation))
            expected = [
                (values.mild_interest if c else 0.0) + (values.order if o else 0.0)
                for c, o in zip(step.clicked, step.ordered, strict=True)
            ]
            assert step.rewards.tolist() == pytest.approx(expected)
            assert not (step.ordered & ~step.clicked).any()
            paid_orders += int(step.ordered.sum())
            observation, done = step.observation, step.done
    assert paid_orders > 0


def test_other_reward_values_change_returns_and_nothing_else(
    market: SyntheticMarketplace,
) -> None:
    oracle = OraclePolicy(market.behaviour)
    default = rollout(MarketplaceEnv(market, seed=8), oracle, 150)
    values = RewardValues(mild_interest=0.4, interest=0.7, order=3.0)
    dearer = rollout(MarketplaceEnv(market, seed=8, rewards=values), oracle, 150)
    assert (dearer.clicks, dearer.orders, dearer.shown) == (
        default.clicks,
        default.orders,
        default.shown,
    )
    assert default.returns.sum() == pytest.approx(0.25 * default.clicks + 1.0 * default.orders)
    assert dearer.returns.sum() == pytest.approx(0.4 * dearer.clicks + 3.0 * dearer.orders)
    assert dearer.returns.mean() > default.returns.mean()
