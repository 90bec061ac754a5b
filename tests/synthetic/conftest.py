"""Fixtures shared by the tests of the synthetic marketplace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import public_data_dir


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
