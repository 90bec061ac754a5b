"""`recommender engines`: list the engines this installation knows."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from recommender.cli.app import app
from recommender.engines import ALIASES, engine_class, engine_names


@app.command("engines")
def list_engines() -> None:
    """List the known engines, whether they are trained by jobs, and their aliases."""
    table = Table("engine", "trained by jobs", "aliases")
    for name in engine_names():
        aliases = ", ".join(alias for alias, target in ALIASES.items() if target == name)
        table.add_row(name, "yes" if engine_class(name).trainable else "no", aliases)
    Console().print(table)


__all__ = ["list_engines"]
