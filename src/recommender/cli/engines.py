"""`recommender engines`: the engines this installation knows, and the default one."""

from __future__ import annotations

import typer
from rich.table import Table

from recommender.cli.app import app
from recommender.cli.output import console, report_error
from recommender.config import get_settings
from recommender.engines import (
    ALIASES,
    UnknownEngineError,
    canonical_name,
    engine_class,
    engine_names,
)
from recommender.engines.limits import EngineLimits
from recommender.store import migrate, state
from recommender.store.database import Database

engines_app = typer.Typer(
    help="List engines; show or change the default.", invoke_without_command=True
)
app.add_typer(engines_app, name="engines")


@engines_app.callback()
def list_engines(ctx: typer.Context) -> None:
    """List the known engines, whether jobs train them, their aliases, their service limits
    (ENGINE_MAX_ITEMS applied) and their estimated fitting memory."""
    if ctx.invoked_subcommand is not None:
        return
    limits = get_settings().max_items_by_engine
    table = Table("engine", "trained by jobs", "aliases", "service limit", "fitting memory")
    for name in engine_names():
        aliases = ", ".join(alias for alias, target in ALIASES.items() if target == name)
        declared = engine_class(name)(max_items=limits.get(name)).limits()
        table.add_row(
            name,
            "yes" if engine_class(name).trainable else "no",
            aliases,
            f"{declared.max_items:,}" if declared.max_items is not None else "none",
            _memory(declared),
        )
    console.print(table)


def _memory(limits: EngineLimits) -> str:
    parts = [
        f"{value:,.0f} B per {unit}"
        for value, unit in (
            (limits.bytes_per_user, "user"),
            (limits.bytes_per_item, "service"),
            (limits.bytes_per_item_pair, "service pair"),
        )
        if value
    ]
    return ", ".join(parts) or "not declared"


@engines_app.command()
def default(
    engine: str | None = typer.Argument(None, help="New default; omit to show it."),
) -> None:
    """Show or change the default engine (running servers follow within seconds)."""
    settings = get_settings()
    db = Database(settings.database_url, pool_size=1)
    try:
        migrate.upgrade(db.engine)
        if engine is None:
            with db.engine.connect() as conn:
                stored = state.read(conn, state.DEFAULT_ENGINE)
            console.print(stored.value if stored else settings.default_engine)
            return
        try:
            name = canonical_name(engine)
        except UnknownEngineError as error:
            report_error(error)
            raise typer.Exit(code=2) from None
        with db.write() as conn:
            state.put(conn, state.DEFAULT_ENGINE, name)
        console.print(f"default engine: {name}")
    finally:
        db.dispose()
