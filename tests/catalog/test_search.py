from __future__ import annotations

import pytest

from recommender.catalog import search
from recommender.catalog.loader import replace_catalog
from recommender.catalog.snapshot import load_snapshot
from recommender.catalog.text_index import words
from recommender.store.database import Database
from tests.factories import dump, service


def test_terms_drop_operators_and_punctuation() -> None:
    assert search.terms('Cloud "GPU" OR -notebooks*') == ["cloud", "gpu", "or", "notebooks"]
    assert search.terms("!!! ()") == []


@pytest.fixture
def catalogue(db: Database) -> Database:
    services = [
        service(1, name="B2DROP", tagline="Sync and exchange research data", description=""),
        service(2, name="EGI Cloud Compute", tagline="", description="Virtual machines"),
        service(3, name="Notebooks", tagline="Jupyter notebooks", description="In the cloud"),
    ]
    with db.write() as conn:
        replace_catalog(conn, dump(services))
    return db


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cloud", {2, 3}),
        ("CLOUD compute", {2}),
        ("machine", {2}),  # stemming: machines
        ("note", {3}),  # prefix
        ("exchange data", {1}),
        ("nothing matches this", set()),
        ("'; DROP TABLE services; --", set()),
    ],
)
def test_matching_services(catalogue: Database, query: str, expected: set[int]) -> None:
    with catalogue.engine.connect() as conn:
        assert search.matching_services(conn, query) == expected


def test_query_without_words_is_no_filter(catalogue: Database) -> None:
    with catalogue.engine.connect() as conn:
        assert search.matching_services(conn, "?!") is None


@pytest.mark.parametrize(
    "query",
    ["cloud", "CLOUD compute", "machine", "note", "exchange data", "nothing matches", "?!"],
)
def test_the_catalogue_index_finds_what_the_store_finds(catalogue: Database, query: str) -> None:
    with catalogue.engine.connect() as conn:
        snapshot = load_snapshot(conn)
        expected = search.matching_services(conn, query)
        if conn.dialect.name != "sqlite":
            assert snapshot.text is None  # English stemming stays the store's
            return
    assert snapshot.text is not None
    mask = snapshot.text.matching(search.terms(query))
    found = None if mask is None else set(snapshot.service_ids[mask].tolist())
    assert found == expected


def test_words_fold_case_and_accents() -> None:
    assert words("Café_Données GPU-2") == ["cafe", "donnees", "gpu", "2"]


def test_query_cache_answers_per_catalogue_version() -> None:
    cache = search.QueryCache(size=8)
    cache.put(1, ["cloud"], {2, 3})
    assert cache.get(1, ["cloud"]) == {2, 3}
    assert cache.get(2, ["cloud"]) is None
    assert cache.get(1, ["cloud", "compute"]) is None


def test_query_cache_forgets_the_least_recently_used() -> None:
    cache = search.QueryCache(size=2)
    cache.put(1, ["a"], {1})
    cache.put(1, ["b"], {2})
    assert cache.get(1, ["a"]) == {1}  # "a" is now the most recent
    cache.put(1, ["c"], {3})
    assert cache.get(1, ["b"]) is None
    assert cache.get(1, ["a"]) == {1}
    assert cache.get(1, ["c"]) == {3}
