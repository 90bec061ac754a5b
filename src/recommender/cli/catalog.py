"""`recommender load-dump` and `recommender demo`: put a catalogue into the store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlalchemy import func, select

from recommender.activity.counts import count_and_store
from recommender.activity.imports import import_actions, import_recommendations
from recommender.catalog import uploads
from recommender.catalog.dump import InvalidDumpError
from recommender.cli.app import app
from recommender.cli.output import console, counter, progress_bar, report_error
from recommender.config import get_settings
from recommender.store import migrate
from recommender.store.database import Database
from recommender.store.schema import User, UserAction

DEMO_FIXTURE = "demo_marketplace.json"


def _open_store() -> Database:
    db = Database(get_settings().database_url, pool_size=2)
    migrate.upgrade(db.engine)
    return db


def _load(db: Database, dump: bytes | Path) -> dict[str, int]:
    try:
        if isinstance(dump, Path):
            dump_id = uploads.accept_file(db, dump)
        else:
            dump_id = uploads.accept(db, dump)
    except InvalidDumpError as error:
        for problem in error.problems:
            report_error(problem)
        raise typer.Exit(code=1) from None
    with progress_bar(f"loading dump {dump_id}") as update:
        counts = uploads.load_upload(db, dump_id, progress=update, then=count_and_store)
    table = Table("entity", "records")
    for entity, count in counts.items():
        table.add_row(entity, str(count))
    console.print(table)
    return counts


@app.command("load-dump")
def load_dump(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Dump JSON file."),
) -> None:
    """Replace the catalogue with a dump file (the same checks as POST /database_dumps).

    The file is read a chunk at a time and stored compressed: what the load holds is that
    compressed copy, one record and the ids of every entity, whatever the file's size.
    A running server notices the new catalogue within a few seconds.
    """
    db = _open_store()
    try:
        _load(db, file)
    finally:
        db.dispose()


def demo_fixture() -> dict[str, Any]:
    text = resources.files("recommender").joinpath("fixtures", DEMO_FIXTURE).read_text("utf-8")
    fixture: dict[str, Any] = json.loads(text)
    return fixture


@app.command()
def demo(
    activity: bool = typer.Option(
        True, help="Also import the demo's user actions when the activity log is empty."
    ),
) -> None:
    """Load a small example marketplace with real EOSC service names, users and activity."""
    fixture = demo_fixture()
    db = _open_store()
    try:
        _load(db, json.dumps(fixture["dump"]).encode())
        with db.write() as conn:
            has_activity = conn.execute(select(func.count(UserAction.id))).scalar_one() > 0
            if activity and not has_activity:
                by_aai = {
                    aai: uid
                    for uid, aai in conn.execute(select(User.id, User.aai_uid))
                    if aai is not None
                }
                shown = import_recommendations(conn, fixture.get("recommendations", []), by_aai)
                done = import_actions(conn, fixture.get("user_actions", []), by_aai)
                console.print(f"imported {shown} served panels and {done} user actions")
            elif has_activity:
                console.print("the activity log is not empty: demo activity not imported")
        user = fixture["dump"]["users"][0]["id"] if fixture["dump"]["users"] else 1
        console.print(
            "Try it: [bold]recommender recommend --user-id "
            f"{user}[/bold], or POST /recommendations on the running server."
        )
    finally:
        db.dispose()


def _json_lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


@app.command("import-activity")
def import_activity(
    recommendations: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="JSON lines of served panels (as `synth` writes)."
    ),
    actions: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="JSON lines of /user_actions bodies."
    ),
) -> None:
    """Import recorded activity: served panels first, then the actions that follow them.

    Each line is checked like an API request; one bad line stops the import with its number,
    and nothing of that file is kept.
    """
    db = _open_store()
    try:
        with db.engine.connect() as conn:
            by_aai = {aai: uid for uid, aai in conn.execute(select(User.id, User.aai_uid)) if aai}
        for label, path in (("served panels", recommendations), ("user actions", actions)):
            if path is None:
                continue
            with counter(f"importing {label}") as update, db.write() as conn:
                count = 0

                def counted(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
                    nonlocal count
                    for count, row in enumerate(rows, start=1):
                        if count % 1000 == 0:
                            update(count)
                        yield row

                try:
                    if path is recommendations:
                        import_recommendations(conn, counted(_json_lines(path)), by_aai)
                    else:
                        import_actions(conn, counted(_json_lines(path)), by_aai)
                except (ValueError, KeyError) as error:
                    report_error(f"{path}, line {count}: {error}")
                    raise typer.Exit(code=1) from None
            console.print(f"imported {count} {label}")
    finally:
        db.dispose()
