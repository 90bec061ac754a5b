"""The Typer application every command module registers its commands on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="recommender",
    help="marketplace-recommender: serve, load catalogues, train and evaluate engines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """marketplace-recommender: serve, load catalogues, train and evaluate engines."""
