"""`recommender db ...`: the database schema and what it keeps."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from recommender.activity import retention
from recommender.cli.app import app
from recommender.cli.output import console
from recommender.config import get_settings
from recommender.store import migrate
from recommender.store.database import Database
from recommender.tasks.retention import windows as retention_windows

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


@db_app.command()
def prune(
    impression_days: float | None = typer.Option(
        None, min=0, help="Days of impressions to keep (default IMPRESSION_RETENTION_DAYS)."
    ),
    action_days: float | None = typer.Option(
        None, min=0, help="Days of user actions to keep (default ACTION_RETENTION_DAYS)."
    ),
) -> None:
    """Delete impressions and user actions older than their retention windows, now; orders
    and running experiments' activity are kept. 0 keeps everything of that kind."""
    settings = get_settings()
    configured = retention_windows(settings)
    windows = retention.Windows(
        impression_days=configured.impression_days if impression_days is None else impression_days,
        action_days=configured.action_days if action_days is None else action_days,
    )
    if not windows.active:
        console.print("nothing to prune: no retention window is set")
        return
    db = Database(settings.database_url, pool_size=1)
    try:
        pruned = retention.prune(db, windows, datetime.now(UTC))
        console.print(f"deleted {pruned.impressions} impressions and {pruned.actions} user actions")
    finally:
        db.dispose()
