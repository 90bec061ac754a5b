"""`recommender db ...`: the database schema."""

from __future__ import annotations

import typer

from recommender.cli.app import app
from recommender.cli.output import console
from recommender.config import get_settings
from recommender.store import migrate
from recommender.store.database import Database

db_app = typer.Typer(help="Create or upgrade the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create the schema or upgrade it to the newest revision (safe to repeat)."""
    db = Database(get_settings().database_url, pool_size=1)
    try:
        migrate.upgrade(db.engine, revision)
        console.print(f"database at revision {migrate.current_revision(db.engine)}")
    finally:
        db.dispose()


@db_app.command()
def current() -> None:
    """Show the schema revision of the database and the newest one this version knows."""
    db = Database(get_settings().database_url, pool_size=1)
    try:
        console.print(
            f"database: {migrate.current_revision(db.engine)}  newest: {migrate.head_revision()}"
        )
    finally:
        db.dispose()
