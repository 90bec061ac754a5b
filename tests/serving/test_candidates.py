from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.catalog.loader import replace_catalog
from recommender.catalog.snapshot import CatalogSnapshot, load_snapshot
from recommender.catalog.text_index import Matches
from recommender.contract.recommendations import SearchData
from recommender.serving.candidates import select_candidates
from recommender.store.database import Database
from tests.factories import BIOLOGY, COMPUTE, DATA, PHYSICS, dump, service


@pytest.fixture
def catalog(tmp_path: Path) -> CatalogSnapshot:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    from recommender.store import migrate

    migrate.upgrade(db.engine)
    services = [
        service(1, scientific_domains=[BIOLOGY], categories=[DATA], countries=["PL"], rating=4.5),
        service(2, scientific_domains=[PHYSICS], categories=[DATA], countries=["WW"], rating=2.0),
        service(3, scientific_domains=[PHYSICS], categories=[COMPUTE], countries=["DE"], rating=3),
        service(4, scientific_domains=[BIOLOGY], status="draft"),
        service(
            5,
            scientific_domains=[BIOLOGY, PHYSICS],
            categories=[COMPUTE],
            order_type="order_required",
            rating=None,
        ),
    ]
    with db.write() as conn:
        replace_catalog(conn, dump(services))
    with db.engine.connect() as conn, conn.begin():
        snapshot = load_snapshot(conn)
    db.dispose()
    return snapshot


def ids(values: np.ndarray) -> list[int]:
    return sorted(int(v) for v in values)


def test_only_recommendable_statuses(catalog: CatalogSnapshot) -> None:
    assert ids(select_candidates(catalog)) == [1, 2, 3, 5]


def test_or_within_a_filter_and_across_filters(catalog: CatalogSnapshot) -> None:
    either = SearchData(scientific_domains=[BIOLOGY, PHYSICS])
    assert ids(select_candidates(catalog, search=either)) == [1, 2, 3, 5]
    both = SearchData(scientific_domains=[PHYSICS], categories=[DATA])
    assert ids(select_candidates(catalog, search=both)) == [2]


def test_worldwide_services_are_available_everywhere(catalog: CatalogSnapshot) -> None:
    german = SearchData(geographical_availabilities=["de"])
    assert ids(select_candidates(catalog, search=german)) == [2, 3]


def test_order_type_and_rating_floor(catalog: CatalogSnapshot) -> None:
    assert ids(select_candidates(catalog, search=SearchData(order_type="order_required"))) == [5]
    assert ids(select_candidates(catalog, search=SearchData(rating="4"))) == [1]
    # a label that is not a number is not a floor
    assert ids(select_candidates(catalog, search=SearchData(rating="best"))) == [1, 2, 3, 5]


def test_candidates_hits_and_exclusions(catalog: CatalogSnapshot) -> None:
    assert ids(select_candidates(catalog, candidates=[3, 4, 5, 77])) == [3, 5]
    assert ids(select_candidates(catalog, search_hits={1, 2, 4})) == [1, 2]
    assert ids(select_candidates(catalog, search_hits=set())) == []
    assert ids(select_candidates(catalog, exclude={1, 5, 99})) == [2, 3]


def test_text_matches_of_the_catalogue_filter_as_their_ids_do(catalog: CatalogSnapshot) -> None:
    mask = np.isin(catalog.service_ids, [1, 4, 5])
    matches = Matches(mask, catalog.service_ids)
    assert sorted(matches) == [1, 4, 5] and len(matches) == 3
    assert 4 in matches and np.int64(5) in matches
    assert 2 not in matches and "4" not in matches and 99 not in matches
    assert ids(select_candidates(catalog, search_hits=matches)) == [1, 5]
    assert ids(select_candidates(catalog, search_hits=matches, exclude={5})) == [1]


def test_a_store_s_answer_kept_by_position_filters_as_its_ids_do(
    catalog: CatalogSnapshot,
) -> None:
    matches = catalog.matching([5, 1, 4, 99, 1])
    assert list(matches) == [1, 4, 5] and len(matches) == 3
    assert 4 in matches and 99 not in matches
    assert ids(select_candidates(catalog, search_hits=matches)) == [1, 5]
    assert ids(select_candidates(catalog, search_hits=matches, exclude={5})) == [1]
    german = SearchData(geographical_availabilities=["de"])
    assert ids(select_candidates(catalog, search=german, search_hits=matches)) == []
    assert ids(select_candidates(catalog, search_hits=catalog.matching([]))) == []


def test_text_matches_of_another_catalogue_are_looked_up_by_id(catalog: CatalogSnapshot) -> None:
    """Matches from the catalogue before a swap: positions differ, the ids still hold."""
    before = np.array([1, 2, 3, 4, 5, 6, 7], dtype=np.int64)
    matches = Matches(np.isin(before, [2, 3, 7]), before)
    assert ids(select_candidates(catalog, search_hits=matches)) == [2, 3]


def test_listed_candidates_are_not_filtered_again_by_the_search(
    catalog: CatalogSnapshot,
) -> None:
    # The portal's search matched 3 and 5 under its own rules (a domain's subdomains, say):
    # the filters and text hits that would drop them are its, already applied.
    search = SearchData(providers=[424242], order_type="order_required")
    listed = select_candidates(catalog, candidates=[3, 4, 5], search=search, search_hits=set())
    assert ids(listed) == [3, 5]
    assert ids(select_candidates(catalog, candidates=[3, 5], exclude={5})) == [3]


def test_unknown_filter_values_match_nothing(catalog: CatalogSnapshot) -> None:
    assert ids(select_candidates(catalog, search=SearchData(providers=[424242]))) == []
