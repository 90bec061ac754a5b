"""A tiny synthetic marketplace, its training data and two engines, for the simulator tests."""

from __future__ import annotations

import pytest

from recommender.engines.base import Model
from recommender.interactions import Interactions
from recommender.simulation import fit_engine, marketplace_interactions
from recommender.synthetic import SynthConfig, SyntheticMarketplace, generate

# Small enough for a second, busy enough (many sessions per user) for engines to learn from.
TINY = SynthConfig(services=60, users=120, days=4, seed=3, sessions_per_day=0.3)


@pytest.fixture(scope="session")
def market() -> SyntheticMarketplace:
    return generate(TINY)


@pytest.fixture(scope="session")
def data(market: SyntheticMarketplace) -> Interactions:
    return marketplace_interactions(market)


@pytest.fixture(scope="session")
def popularity(data: Interactions) -> Model:
    return fit_engine("popularity", data)


@pytest.fixture(scope="session")
def random_model(data: Interactions) -> Model:
    return fit_engine("random", data, seed=3)
