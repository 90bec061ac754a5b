"""The bounded user cache answers as the whole directory does, one indexed query a miss, and
never holds more than its capacity."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from recommender.catalog.loader import replace_catalog
from recommender.catalog.snapshot import UserDirectory, load_snapshot
from recommender.catalog.user_cache import CachedUsers, UserCache
from recommender.store.database import Database
from tests.factories import two_communities


@pytest.fixture
def loaded(db: Database) -> Database:
    with db.write() as conn:
        replace_catalog(conn, two_communities(n_users=30))
    return db


def cache(db: Database, capacity: int) -> CachedUsers:
    with db.snapshot() as conn:
        users = load_snapshot(conn, user_cache=UserCache(db, capacity)).users
    assert isinstance(users, CachedUsers)
    return users


def directory(db: Database) -> UserDirectory:
    with db.snapshot() as conn:
        users = load_snapshot(conn).users
    assert isinstance(users, UserDirectory)
    return users


@contextmanager
def queries(db: Database) -> Iterator[list[str]]:
    """The SELECT statements sent to the store meanwhile."""
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def test_profiles_and_identities_are_the_directorys(loaded: Database) -> None:
    whole, cached = directory(loaded), cache(loaded, 29)
    assert cached.count == whole.count == 30
    for user_id in [*range(1, 31), 99]:
        mine, theirs = cached.get(user_id), whole.get(user_id)
        if theirs is None:
            assert mine is None
            continue
        assert mine is not None
        assert mine.accessed.tolist() == theirs.accessed.tolist()
        assert sorted(mine.scientific_domains) == sorted(theirs.scientific_domains)
        assert sorted(mine.categories) == sorted(theirs.categories)
    for aai_uid in ["user7@aai.example.org", "nobody@aai.example.org"]:
        assert cached.user_of_aai(aai_uid) == whole.user_of_aai(aai_uid)
    assert cached.aai_map() is None


def test_a_miss_is_one_query_and_a_hit_none(loaded: Database) -> None:
    users = cache(loaded, 10)
    for lookup in (lambda: users.get(3), lambda: users.get(404), lambda: users.user_of_aai("x")):
        with queries(loaded) as sent:
            lookup()
        assert len(sent) == 1
        with queries(loaded) as sent:
            lookup()
        assert sent == []


def test_the_cache_never_holds_more_than_its_capacity(loaded: Database) -> None:
    users = cache(loaded, 3)
    for user_id in range(1, 50):  # known and unknown users alike
        users.get(user_id)
        users.user_of_aai(f"flood{user_id}@aai.example.org")
        assert max(users.held()) <= 3
    # 47, 48 and 49 are held; reading 47 again leaves 48 the least recently used, the one
    # that makes room for 51.
    users.get(47)
    users.get(51)
    with queries(loaded) as sent:
        assert users.get(47) is None and users.get(49) is None and users.get(51) is None
    assert sent == []
    assert users.reads_store(48, None)


def test_reads_store_says_when_a_lookup_would(loaded: Database) -> None:
    users = cache(loaded, 10)
    assert users.reads_store(5, None) and users.reads_store(None, "user5@aai.example.org")
    assert not users.reads_store(None, None)
    users.user_of_aai("user5@aai.example.org")
    assert users.reads_store(None, "user5@aai.example.org")  # the identity, not the profile
    users.get(5)
    assert not users.reads_store(5, None)
    assert not users.reads_store(None, "user5@aai.example.org")
    users.user_of_aai("nobody")
    assert not users.reads_store(None, "nobody")


def test_lookups_from_many_threads_agree(loaded: Database) -> None:
    users, whole = cache(loaded, 4), directory(loaded)
    expected = {p.id: p.accessed.tolist() for p in map(whole.get, range(1, 31)) if p is not None}
    wrong: list[int] = []

    def look() -> None:
        for user_id in range(1, 31):
            profile = users.get(user_id)
            if profile is None or profile.accessed.tolist() != expected[user_id]:
                wrong.append(user_id)

    threads = [threading.Thread(target=look) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == [] and max(users.held()) <= 4


def test_start_up_counts_users_and_reads_none(loaded: Database) -> None:
    with queries(loaded) as sent, loaded.snapshot() as conn:
        load_snapshot(conn, user_cache=UserCache(loaded, 5))
    user_tables = ("user_accessed_services", "user_scientific_domains", "user_categories")
    assert not any(table in statement for statement in sent for table in user_tables)


def test_users_that_fit_are_held_whole(loaded: Database) -> None:
    with loaded.snapshot() as conn:
        users = load_snapshot(conn, user_cache=UserCache(loaded, 30)).users
    assert isinstance(users, UserDirectory)
    assert users.count == 30 and users.get(3) is not None
    with queries(loaded) as sent:
        users.get(7), users.user_of_aai("user5@aai.example.org")
    assert sent == []
