"""`recommender models`: the registry from the terminal (list, show, activate)."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from recommender.cli.app import app
from recommender.cli.output import console, report_error
from recommender.config import get_settings
from recommender.engines import UnknownEngineError, canonical_name
from recommender.registry import versions
from recommender.store import migrate
from recommender.store.database import Database

models_app = typer.Typer(
    help="Model versions: list them, activate one (also how to roll back).",
    invoke_without_command=True,
)
app.add_typer(models_app, name="models")


def _store() -> Database:
    db = Database(get_settings().database_url, pool_size=1)
    migrate.upgrade(db.engine)
    return db


def _engine(name: str) -> str:
    try:
        return canonical_name(name)
    except UnknownEngineError as error:
        report_error(error)
        raise typer.Exit(code=2) from None


@models_app.callback()
def list_models(
    ctx: typer.Context,
    engine: str | None = typer.Option(None, help="Only this engine's versions."),
) -> None:
    """List registered versions with their status and metrics."""
    if ctx.invoked_subcommand is not None:
        return
    db = _store()
    try:
        with Session(db.engine) as session:
            rows = versions.listing(session, _engine(engine) if engine else None)
            table = Table("engine", "version", "status", "created", "metrics", "gate")
            for row in rows:
                metrics = ", ".join(
                    f"{k} {v:.4f}" for k, v in row.metrics.items() if isinstance(v, int | float)
                )
                table.add_row(
                    row.engine,
                    str(row.version),
                    row.status,
                    row.created_at.strftime("%Y-%m-%d %H:%M"),
                    metrics,
                    "; ".join(row.gate.get("reasons", []))
                    or ("passed" if row.gate.get("passed") else ""),
                )
    finally:
        db.dispose()
    console.print(table)


@models_app.command()
def activate(engine: str, version: int) -> None:
    """Make a version serve its engine; running servers follow within seconds."""
    name = _engine(engine)
    db = _store()
    try:
        with db.write() as conn, Session(bind=conn) as session:
            try:
                versions.activate(session, name, version)
            except (versions.VersionNotFoundError, versions.NotActivatableError) as error:
                report_error(error)
                raise typer.Exit(code=1) from None
            session.flush()
    finally:
        db.dispose()
    console.print(f"{name} v{version} is active")
