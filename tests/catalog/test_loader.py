from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, make_url, select

from recommender.activity import actions
from recommender.catalog import uploads
from recommender.catalog.dump import InvalidDumpError
from recommender.catalog.dump_stream import MemoryBytes, read_dump
from recommender.catalog.loader import replace_catalog
from recommender.catalog.snapshot import load_snapshot
from recommender.contract.user_actions import UserActionIn
from recommender.store import migrate, state
from recommender.store.database import Database
from recommender.store.schema import (
    CatalogDump,
    Project,
    Service,
    User,
    UserAction,
    catalog_tables,
)
from tests.conftest import PostgresServer
from tests.factories import dump, service, two_communities, user, user_action


def load(db: Database, doc: dict[str, object]) -> dict[str, int]:
    dump_id = uploads.accept(db, orjson.dumps(doc))
    return uploads.load_upload(db, dump_id)


def catalogue(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every catalogue table, in a fixed order."""
    with db.engine.connect() as conn:
        return {
            table.name: sorted(
                (tuple(row) for row in conn.execute(select(table))), key=orjson.dumps
            )
            for table in catalog_tables()
        }


def count(db: Database, column: object) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count(column))).scalar_one())


def test_load_writes_every_entity_and_links(db: Database) -> None:
    doc = dump(
        [service(1, related_services=[2]), service(2, required_services=[1])],
        [user(5, accessed_services=[2, 1])],
        projects=[{"id": 3, "user_id": 5, "services": [1, 2]}],
    )
    counts = load(db, doc)
    assert counts["services"] == 2 and counts["users"] == 1 and counts["projects"] == 1
    with db.session() as session:
        first = session.get(Service, 1)
        assert first is not None
        assert [c.name for c in first.categories] == ["Data management"]
        assert first.rating == 4.0
        person = session.get(User, 5)
        assert person is not None
        assert [s.id for s in person.accessed_services] == [2, 1]  # chronological
        project = session.get(Project, 3)
        assert project is not None and sorted(s.id for s in project.services) == [1, 2]


def test_a_new_dump_replaces_the_old_catalogue(db: Database) -> None:
    load(db, dump([service(1), service(2)], [user(1, accessed_services=[1])]))
    load(db, dump([service(3)], [user(2, accessed_services=[3])]))
    with db.engine.connect() as conn:
        assert conn.execute(select(Service.id)).scalars().all() == [3]
        assert conn.execute(select(User.id)).scalars().all() == [2]
        catalog = state.read(conn, state.CATALOG)
    assert catalog is not None and catalog.version == 2


def test_failed_dump_leaves_catalogue_and_activity_intact(db: Database) -> None:
    load(db, two_communities())
    with db.engine.begin() as conn:
        actions.record(conn, UserActionIn.model_validate(user_action(user_id=1)))
    before_services = count(db, Service.id)
    # Valid up to the users, whose last reference is broken: the writes already made to the
    # services must be rolled back with everything else.
    broken = two_communities()
    broken["services"] = broken["services"][:3]
    with pytest.raises(InvalidDumpError), db.engine.begin() as conn:
        replace_catalog(conn, broken)
    assert count(db, Service.id) == before_services
    assert count(db, User.id) == 30
    assert count(db, UserAction.id) == 1


def test_invalid_upload_is_marked_failed(db: Database) -> None:
    load(db, dump([service(1)]))
    with db.engine.begin() as conn:
        dump_id = uploads.store_upload(conn, b'{"services": "nope"}')
    with pytest.raises(InvalidDumpError):
        uploads.load_upload(db, dump_id)
    with db.engine.connect() as conn:
        row = conn.execute(select(CatalogDump).where(CatalogDump.id == dump_id)).one()
    assert row.status == "failed" and "services" in (row.error or "")
    assert count(db, Service.id) == 1


def test_dump_never_touches_user_actions(db: Database) -> None:
    load(db, dump([service(1)], [user(1)]))
    with db.engine.begin() as conn:
        actions.record(conn, UserActionIn.model_validate(user_action(user_id=1)))
    load(db, dump([service(2)], []))
    with db.engine.connect() as conn:
        stored = conn.execute(select(UserAction.user_id, UserAction.service_id)).all()
    assert stored == [(1, 1)]


def test_readers_see_the_old_catalogue_until_the_load_commits(db: Database) -> None:
    load(db, dump([service(1)]))
    halfway = threading.Event()
    proceed = threading.Event()
    errors: list[BaseException] = []

    def progress(fraction: float, message: str) -> None:
        if fraction >= 0.5 and not halfway.is_set():
            halfway.set()
            proceed.wait(timeout=30)

    def writer() -> None:
        try:
            with db.engine.begin() as conn:
                replace_catalog(conn, dump([service(2), service(3)]), progress=progress)
        except BaseException as error:  # surfaced below
            errors.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    assert halfway.wait(timeout=30)
    with db.engine.connect() as conn, conn.begin():
        during = load_snapshot(conn)
    proceed.set()
    thread.join(timeout=30)
    assert not errors
    assert during.service_ids.tolist() == [1]
    with db.engine.connect() as conn, conn.begin():
        assert load_snapshot(conn).service_ids.tolist() == [2, 3]


def test_older_uploads_drop_their_content(db: Database) -> None:
    for i in range(uploads.KEEP_CONTENT + 2):
        with db.engine.begin() as conn:
            uploads.store_upload(conn, orjson.dumps(dump([service(i + 1)])))
    with db.engine.connect() as conn:
        kept = (
            conn.execute(select(CatalogDump.id).where(CatalogDump.content.is_not(None)))
            .scalars()
            .all()
        )
        total = conn.execute(select(func.count(CatalogDump.id))).scalar_one()
    assert len(kept) == uploads.KEEP_CONTENT
    assert total == uploads.KEEP_CONTENT + 2


def test_snapshot_reflects_the_catalogue(db: Database) -> None:
    load(db, two_communities())
    with db.engine.connect() as conn, conn.begin():
        snapshot = load_snapshot(conn)
    assert snapshot.n_services == 12
    assert snapshot.loaded
    assert snapshot.service(1) == "Bio service 1"
    assert snapshot.scientific_domain(1) == "Biology"
    assert snapshot.users is not None and len(snapshot.users) == 30
    profile = snapshot.users.get(3)
    assert profile is not None and profile.scientific_domains == (1,)
    assert snapshot.users.by_aai_uid["user3@aai.example.org"] == 3
    assert datetime.now(UTC)  # snapshot loading is pure read: nothing else to check


@pytest.mark.postgres
def test_postgresql_plans_with_the_loaded_catalogue(postgres_server: PostgresServer) -> None:
    # Without statistics the planner takes a new catalogue for empty and scans every service
    # for a full-text query instead of reading the search index.
    url = postgres_server.new_database()
    db = Database(url, pool_size=1)
    try:
        load(db, dump([service(i, name=f"Service {i}") for i in range(1, 31)]))
        with db.engine.connect() as conn:
            estimated = conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE relname = 'services'"
            ).scalar_one()
        assert estimated == 30
    finally:
        db.dispose()
        postgres_server.drop(make_url(url).database or "")


@pytest.mark.postgres
def test_both_stores_hold_the_same_rows_of_one_dump(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    # PostgreSQL gets COPY, SQLite batched INSERTs: the values must not depend on which.
    doc = two_communities()
    doc["services"] += [
        service(
            100,
            name='Żółw\t"[x]" \\ {y}',
            countries=["PL", "DE", "PL"],
            rating=None,
            horizontal=None,
            pid=None,
            related_services=[1, 101, 1],
            required_services=[101],
        ),
        service(101, rating=2.25, horizontal=True, description=None, tagline=["a", "b"]),
    ]
    doc["users"].append(user(100, aai_uid=None, accessed_services=[101, 100, 101]))
    doc["projects"] = [{"id": 7, "user_id": 100, "services": [100, 101, 100]}]
    raw = orjson.dumps(doc)
    sqlite = Database(f"sqlite:///{tmp_path / 'same.db'}", pool_size=1)
    migrate.upgrade(sqlite.engine)
    url = postgres_server.new_database()
    postgresql = Database(url, pool_size=1)
    try:
        for db in (sqlite, postgresql):
            with db.write() as conn:
                replace_catalog(conn, read_dump(MemoryBytes(raw)))
        on_sqlite = catalogue(sqlite)
        assert on_sqlite == catalogue(postgresql)
        assert (100, 101, 0) in on_sqlite["user_accessed_services"]
        assert len(on_sqlite["services"]) == 14
    finally:
        sqlite.dispose()
        postgresql.dispose()
        postgres_server.drop(make_url(url).database or "")
