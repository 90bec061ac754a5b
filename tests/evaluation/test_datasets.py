"""Readers and filters on tiny hand-made files, and the real data sets' known sizes."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recommender.activity import actions
from recommender.catalog.loader import replace_catalog
from recommender.contract.user_actions import UserActionIn
from recommender.evaluation.datasets import EvalDataset, Filters, ShippedTest, apply_filters
from recommender.evaluation.readers import DatasetNotAvailableError, load_dataset, read_csv
from recommender.store.database import Database
from tests.factories import two_communities, user_action


def dataset(users: list[int], items: list[int], ratings: list[float] | None = None) -> EvalDataset:
    n = len(users)
    return EvalDataset(
        name="tiny",
        users=np.array(users, dtype=np.int64),
        items=np.array(items, dtype=np.int64),
        weights=np.ones(n, dtype=np.float32),
        timestamps=np.full(n, np.nan),
        ratings=np.array(ratings if ratings is not None else [np.nan] * n, dtype=np.float64),
    )


def test_csv_with_string_ids_iso_times_and_weights(tmp_path: Path) -> None:
    path = tmp_path / "clicks.csv"
    path.write_text(
        "user,item,timestamp,weight\n"
        "alice,svc-b,2024-01-02T00:00:00+00:00,2\n"
        "bob,svc-a,,1\n"
        "alice,svc-a,2024-01-01T00:00:00+00:00,0.5\n"
    )
    data = read_csv(path)
    assert data.name == "clicks"
    assert data.users.tolist() == [0, 1, 0]
    assert data.items.tolist() == [1, 0, 0]
    assert dict(data.item_names) == {0: "svc-a", 1: "svc-b"}
    assert data.weights.tolist() == [2.0, 1.0, 0.5]
    assert data.timestamps[0] - data.timestamps[2] == 86_400
    assert np.isnan(data.timestamps[1])
    # The weight column is also what --min-rating filters on.
    assert len(apply_filters(data, Filters(min_rating=1))) == 2


def test_gzipped_tsv_with_columns_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / "events.tsv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("item\tuser\n10\t1\n11\t1\n10\t2\n")
    data = read_csv(path)
    assert data.users.tolist() == [1, 1, 2]
    assert data.items.tolist() == [10, 11, 10]
    assert data.weights.tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(data.ratings).all()


def test_csv_without_the_required_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("user,product\n1,2\n")
    with pytest.raises(ValueError, match="item"):
        read_csv(path)


def test_movielens_100k_format(tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text("1\t10\t5\t881250949\n2\t10\t2\t881250950\n")
    (tmp_path / "u.item").write_bytes("10|Amélie (2001)|rest\n".encode("latin-1"))
    data = load_dataset("movielens-100k", tmp_path)
    assert data.users.tolist() == [1, 2]
    assert data.ratings.tolist() == [5.0, 2.0]
    assert data.weights.tolist() == [1.0, 1.0], "any rating is an interaction"
    assert data.item_names[10] == "Amélie (2001)"
    assert len(load_dataset("movielens-100k", tmp_path, Filters(min_rating=3))) == 1


def test_movielens_1m_format_keys_items_by_rank(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "ratings.csv.gz", "wt") as handle:
        handle.write(
            "user_id,item_rank,movie_id,rating,timestamp,ts_source\n"
            "1,1,5,4,978824268,a\n"
            "1,2,,3,,\n"
            "2,1,5,5,978824270,a\n"
        )
    (tmp_path / "movies.dat").write_text("5::Father of the Bride (1995)::Comedy\n")
    data = load_dataset("movielens-1m", tmp_path)
    assert data.items.tolist() == [1, 2, 1]
    assert np.isnan(data.timestamps[1])
    assert dict(data.item_names) == {1: "Father of the Bride (1995)"}


def write_ncf(folder: Path) -> None:
    folder.mkdir()
    with gzip.open(folder / "train.csv.gz", "wt") as handle:
        handle.write(
            "ncf_user,ncf_item,rating,timestamp,ncf_item_exact\n0,0,5,10,True\n1,1,3,,True\n"
        )
    (folder / "test.rating").write_text("0\t1\t4\t20\n1\t2\t4\t30\n")
    with gzip.open(folder / "test.negative.gz", "wt") as handle:
        handle.write("(0,1)\t2\t3\n(1,2)\t0\t3\n")


def test_ncf_format_ships_its_test_split(tmp_path: Path) -> None:
    write_ncf(tmp_path / "ncf-protocol")
    data = load_dataset("ncf", tmp_path)
    assert len(data) == 4
    assert data.shipped_test is not None
    assert data.shipped_test.items.tolist() == [1, 2]
    assert data.shipped_test.negatives.tolist() == [[2, 3], [0, 3]]
    assert data.item_universe().tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="ships its own test split"):
        apply_filters(data, Filters(min_rating=4))


def test_k_core_drops_repeatedly_until_stable() -> None:
    # Users 1-3 each use items 10 and 11; user 4 uses 10 and 12. With k = 2, item 12 has one
    # user, so it goes; then user 4 has one item left and goes too.
    data = dataset([1, 1, 2, 2, 3, 3, 4, 4], [10, 11, 10, 11, 10, 11, 10, 12])
    core = apply_filters(data, Filters(k_core=2))
    assert sorted(set(core.users.tolist())) == [1, 2, 3]
    assert sorted(set(core.items.tolist())) == [10, 11]


def test_k_core_counts_distinct_partners() -> None:
    # User 1 used item 10 three times: one partner, not three.
    data = dataset([1, 1, 1, 2, 2], [10, 10, 10, 10, 11])
    assert len(apply_filters(data, Filters(k_core=2))) == 0


def test_min_rating_needs_ratings() -> None:
    with pytest.raises(ValueError, match="has none"):
        apply_filters(dataset([1], [2]), Filters(min_rating=3))


def test_store_format_reads_catalogue_activity_and_features(db: Database) -> None:
    with db.write() as conn:
        replace_catalog(conn, two_communities())
        order = user_action(
            user_id=2,
            source={"visit_id": "a", "page_id": "/services/8/summary"},
            target={"visit_id": "b", "page_id": "/projects/1"},
            action={"type": "button", "text": "Order", "order": True},
        )
        actions.record(conn, UserActionIn.model_validate(order))
    data = load_dataset("store", db.url)
    assert data.name == "store"
    assert set(data.users.tolist()) <= set(range(1, 31))
    ordered = (data.users == 2) & (data.items == 8)
    assert ordered.sum() == 1 and data.weights[ordered][0] == 2.0  # an order weighs 2
    assert data.features is not None
    assert set(data.features.users) == {"scientific_domains", "categories"}
    fold = data.to_interactions()
    assert fold.user_features["scientific_domains"].shape[0] == fold.n_users


def test_empty_store_is_not_a_data_set(db: Database) -> None:
    with pytest.raises(DatasetNotAvailableError, match="no interactions"):
        load_dataset("store", db.url)


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="known: csv"):
        load_dataset("parquet", "x")


def test_selecting_a_subset_keeps_names() -> None:
    data = EvalDataset(
        name="x",
        users=np.array([1, 2]),
        items=np.array([3, 4]),
        weights=np.ones(2, dtype=np.float32),
        timestamps=np.full(2, np.nan),
        ratings=np.array([1.0, 5.0]),
        item_names={3: "three"},
        shipped_test=None,
    )
    subset = data.select(np.array([False, True]))
    assert subset.items.tolist() == [4]
    assert subset.item_names == {3: "three"}
    shipped = ShippedTest(np.array([1]), np.array([3]), np.array([[5]]))
    assert replace(data, shipped_test=shipped).item_universe().tolist() == [3, 4, 5]


@pytest.mark.data
def test_real_movielens_100k(data_dir: Path) -> None:
    data = load_dataset("movielens-100k", data_dir / "movielens-100k")
    assert (len(data), data.n_users, data.n_items) == (100_000, 943, 1_682)
    assert not np.isnan(data.timestamps).any()


@pytest.mark.data
def test_real_movielens_1m_and_ncf_split(data_dir: Path) -> None:
    data = load_dataset("movielens-1m", data_dir / "movielens-1m")
    assert (len(data), data.n_users, data.n_items) == (1_000_209, 6_040, 3_706)
    assert int(np.isnan(data.timestamps).sum()) == 337_123
    filtered = apply_filters(data, Filters(min_rating=3, k_core=10))
    assert len(filtered) < 836_478
    ncf = load_dataset("ncf", data_dir / "movielens-1m" / "ncf-protocol")
    assert ncf.shipped_test is not None
    assert ncf.shipped_test.negatives.shape == (6_040, 99)
    assert len(ncf) == 1_000_209
