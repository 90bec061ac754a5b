"""The `recommender` command line: everything the API does, and the work around it."""

from __future__ import annotations

# Importing a command module registers its commands on `app`.
from recommender.cli import engines as _engines  # noqa: F401
from recommender.cli import evaluate as _evaluate  # noqa: F401
from recommender.cli.app import app


def main() -> None:
    app()
