"""Fixtures shared by the whole suite: the public data sets and the databases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def public_data_dir() -> Path:
    return Path(os.environ.get("RECOMMENDER_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real public data sets; absent data skips a test locally but fails it in CI."""
    path = public_data_dir()
    if not (path / "movielens-100k" / "u.data").exists():
        message = f"public data sets not found at {path} (set RECOMMENDER_DATA_DIR)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
