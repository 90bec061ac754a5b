"""Popularity's stored counts are recounted when due, by one process at a time."""

from __future__ import annotations

import orjson

from recommender.activity.counts import stamp_of
from recommender.catalog import uploads
from recommender.catalog.loader import replace_catalog
from recommender.config import Settings
from recommender.store.database import Database
from recommender.tasks import locks
from recommender.tasks.executor import InProcessExecutor, wait_for
from recommender.tasks.popularity import LOCK, recount_if_due
from tests.activity.test_usage import act
from tests.factories import two_communities


def loaded(db: Database) -> None:
    with db.write() as conn:
        replace_catalog(conn, two_communities(n_services=8, n_users=20))


def test_nothing_is_counted_before_a_catalogue_is_loaded(db: Database) -> None:
    assert recount_if_due(db, refit_s=600) is None
    with db.snapshot() as conn:
        assert stamp_of(conn) is None


def test_missing_counts_are_due_at_once_and_then_not_until_they_age(db: Database) -> None:
    loaded(db)
    act(db, 1, 2, order=True)
    first = recount_if_due(db, refit_s=600)
    assert first is not None and first.through >= 1
    assert recount_if_due(db, refit_s=600) is None
    act(db, 2, 3, order=True)
    again = recount_if_due(db, refit_s=0)
    assert again is not None and again.through > first.through
    with db.snapshot() as conn:
        assert stamp_of(conn) == again


def test_counts_for_a_replaced_catalogue_are_due(db: Database) -> None:
    loaded(db)
    first = recount_if_due(db, refit_s=600)
    loaded(db)
    second = recount_if_due(db, refit_s=600)
    assert first is not None and second is not None and second.catalog > first.catalog


def test_a_process_counting_already_leaves_the_others_out(db: Database) -> None:
    loaded(db)
    assert locks.try_acquire(db, LOCK, "another process", lease_s=60)
    assert recount_if_due(db, refit_s=600) is None
    locks.release(db, LOCK, "another process")
    assert recount_if_due(db, refit_s=600) is not None


def test_loading_a_dump_stores_its_counts_with_it(db: Database) -> None:
    dump_id = uploads.accept(db, orjson.dumps(two_communities()))
    executor = InProcessExecutor(db, Settings(_env_file=None, database_url=db.url))
    try:
        row = wait_for(db, executor.submit("load_dump", dump_id=dump_id))
    finally:
        executor.close()
    assert row.state == "succeeded", row.error
    # Stored in the loading transaction: counted on the catalogue it loaded, none due.
    assert recount_if_due(db, refit_s=600) is None
    with db.snapshot() as conn:
        assert stamp_of(conn) is not None
