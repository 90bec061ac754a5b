"""Small synthetic marketplaces shared by the tests of the generator."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recommender.synthetic import SynthConfig, SyntheticMarketplace, generate
from tests.conftest import public_data_dir

# Small enough for seconds, busy enough (many sessions per user) to exercise every path.
SMALL = SynthConfig(services=120, users=300, days=5, seed=11, sessions_per_day=0.4)


@pytest.fixture(scope="session")
def market() -> SyntheticMarketplace:
    return generate(SMALL)


@pytest.fixture(scope="session")
def eosc_dir() -> Path:
    """The public EOSC data; absent data skips a test locally but fails it in CI."""
    path = public_data_dir() / "eosc"
    if not (path / "marketplace" / "data.json").exists():
        message = f"EOSC data not found at {path} (set RECOMMENDER_DATA_DIR)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
