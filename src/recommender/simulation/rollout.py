"""Playing whole episodes with one policy, and what they earned."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recommender.arrays import DoubleArray
from recommender.simulation.environment import MarketplaceEnv
from recommender.simulation.policies import Policy


@dataclass(frozen=True, eq=False)
class Rollout:
    """Episodes of one policy in one environment: each return and the panel counts."""

    returns: DoubleArray
    shown: int
    clicks: int
    orders: int
    dropped: int


def rollout(
    env: MarketplaceEnv,
    policy: Policy,
    episodes: int,
    *,
    first: int = 0,
    on_episode: Callable[[int], None] | None = None,
) -> Rollout:
    """Run episodes `first..first+episodes-1` to the end with `policy`."""
    returns = np.zeros(episodes, dtype=np.float64)
    shown = clicks = orders = dropped = 0
    for index in range(episodes):
        observation = env.reset(first + index)
        done = False
        while not done:
            result = env.step(policy(observation))
            returns[index] += result.reward
            shown += int(result.shown.shape[0])
            clicks += int(result.clicked.sum())
            orders += int(result.ordered.sum())
            dropped += int(result.dropped.shape[0])
            observation, done = result.observation, result.done
        if on_episode is not None:
            on_episode(index + 1)
    return Rollout(returns=returns, shown=shown, clicks=clicks, orders=orders, dropped=dropped)
