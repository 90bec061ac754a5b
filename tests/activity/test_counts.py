"""Popularity counted by the database is the model the engine fits on the usage matrix, and
the stored counts read back as that model, for the catalogue they were counted on."""

from __future__ import annotations

import numpy as np

from recommender.activity.counts import count_and_store, counted_popularity, model_of, stored
from recommender.activity.usage import InteractionWeights, build_interactions
from recommender.catalog.loader import replace_catalog
from recommender.engines.popularity import PopularityEngine, PopularityModel, PopularityParams
from recommender.store.database import Database
from tests.activity.test_usage import act
from tests.factories import BIOLOGY, COMPUTE, DATA, PHYSICS, dump, service, two_communities, user

# What popularity counts as use: accessed services, projects and orders; a click is not use.
EVIDENCE = InteractionWeights(accessed=1.0, project=1.0, order=1.0, click=0.0)


def fitted(db: Database, smoothing: float = 5.0) -> PopularityModel:
    with db.engine.connect() as conn:
        data = build_interactions(conn, EVIDENCE, events=False)
    return PopularityEngine(PopularityParams(smoothing=smoothing)).fit(data)


def counted(db: Database, smoothing: float = 5.0) -> PopularityModel:
    with db.engine.connect() as conn:
        return counted_popularity(conn, smoothing)


def assert_same(got: PopularityModel, want: PopularityModel) -> None:
    assert got.item_ids.tolist() == want.item_ids.tolist()
    assert got.counts.tolist() == want.counts.tolist()
    assert got.n_users == want.n_users
    assert got.smoothing == want.smoothing
    assert sorted(got.context) == sorted(want.context)
    for feature, (vocab, table, per_value) in want.context.items():
        got_vocab, got_table, got_per_value = got.context[feature]
        assert got_vocab.tolist() == vocab.tolist()
        assert got_table.toarray().tolist() == table.toarray().tolist()
        assert got_per_value.tolist() == per_value.tolist()


def test_a_dump_with_projects_and_orders_counts_as_the_engine_fits_it(db: Database) -> None:
    services = [service(i) for i in range(1, 7)]
    users = [
        user(1, scientific_domains=[BIOLOGY], categories=[DATA], accessed_services=[1, 2]),
        user(2, scientific_domains=[BIOLOGY, PHYSICS], categories=[COMPUTE], accessed_services=[2]),
        user(3, scientific_domains=[], categories=[DATA, COMPUTE]),
        user(4, scientific_domains=[PHYSICS], categories=[]),  # uses nothing
    ]
    projects = [{"id": 1, "user_id": 3, "services": [3, 2]}]
    with db.write() as conn:
        replace_catalog(conn, dump(services, users, projects=projects))
    act(db, 1, 1, order=True)  # the dump already says user 1 uses service 1: counted once
    act(db, 1, 4, order=True)
    act(db, 1, 4, order=True)
    act(db, 9, 5, order=True)  # a user the dump does not know, seen only ordering
    act(db, 2, 6)  # a click is no use
    model = counted(db)
    assert_same(model, fitted(db))
    assert model.counts.tolist() == [1, 3, 1, 1, 1, 0]
    assert model.n_users == 5


def test_many_users_of_two_communities_count_as_the_engine_fits_them(db: Database) -> None:
    with db.write() as conn:
        replace_catalog(conn, two_communities(n_services=16, n_users=60))
    rng = np.random.default_rng(0)
    for _ in range(25):
        act(db, int(rng.integers(1, 80)), int(rng.integers(1, 17)), order=bool(rng.random() < 0.7))
    assert_same(counted(db, smoothing=2.0), fitted(db, smoothing=2.0))


def test_an_empty_store_counts_nothing(db: Database) -> None:
    with db.write() as conn:
        replace_catalog(conn, dump([service(1)], []))
    model = counted(db)
    assert_same(model, fitted(db))
    assert model.counts.tolist() == [0.0]


def read_stored(db: Database, smoothing: float = 5.0) -> PopularityModel | None:
    with db.snapshot() as conn:
        found = stored(conn)
        return None if found is None else model_of(conn, found[0], smoothing)


def test_stored_counts_read_back_as_the_model_counted_now(db: Database) -> None:
    with db.write() as conn:
        replace_catalog(conn, two_communities(n_services=16, n_users=60))
    rng = np.random.default_rng(1)
    for _ in range(25):
        act(db, int(rng.integers(1, 80)), int(rng.integers(1, 17)), order=True)
    with db.write() as conn:
        first = count_and_store(conn)
    act(db, 3, 5, order=True)
    # Stored again over the first ones: the newest count replaces them whole.
    with db.write() as conn:
        second = count_and_store(conn)
    assert first is not None and second is not None
    assert second.catalog == first.catalog and second.through == first.through + 1
    got = read_stored(db)
    assert got is not None
    assert_same(got, counted(db))


def test_stored_counts_serve_only_the_catalogue_they_were_counted_on(db: Database) -> None:
    with db.write() as conn:
        replace_catalog(conn, two_communities(n_services=16, n_users=60))
        count_and_store(conn)
    assert read_stored(db) is not None
    with db.write() as conn:
        replace_catalog(conn, dump([service(1), service(2)], [user(1, accessed_services=[2])]))
    assert read_stored(db) is None


def test_nothing_is_stored_before_a_catalogue_is_loaded(db: Database) -> None:
    with db.write() as conn:
        assert count_and_store(conn) is None
    assert read_stored(db) is None
