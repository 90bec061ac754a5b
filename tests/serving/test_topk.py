from __future__ import annotations

import numpy as np
import pytest

from recommender.catalog.snapshot import CatalogSnapshot
from recommender.engines.base import Query
from recommender.engines.item_item import ItemItemModel
from recommender.engines.popularity import PopularityModel
from recommender.engines.ranking import rank
from recommender.serving.topk import Alignments, top_k

SERVICE_IDS = np.arange(10, 30, dtype=np.int64)


def catalogue(service_ids: np.ndarray = SERVICE_IDS) -> CatalogSnapshot:
    n = service_ids.shape[0]
    return CatalogSnapshot(
        version=1,
        dump_id=1,
        service_ids=service_ids,
        recommendable=np.ones(n, dtype=bool),
        order_types=np.full(n, "open_access", dtype=object),
        ratings=np.full(n, np.nan),
    )


def popularity() -> PopularityModel:
    # Knows 5..24: some ids the catalogue lacks, and the catalogue's 25..29 unknown to it.
    items = np.arange(5, 25, dtype=np.int64)
    counts = np.asarray([(i * 7) % 5 for i in range(items.shape[0])], dtype=np.float32)
    return PopularityModel(items, counts, n_users=10, context={}, smoothing=5.0)


def item_item(items: np.ndarray | None = None) -> ItemItemModel:
    items = np.arange(5, 25, dtype=np.int64) if items is None else items
    rng = np.random.default_rng(0)
    weights = rng.random((items.shape[0], items.shape[0])).astype(np.float32)
    return ItemItemModel(items, weights, popularity=np.zeros(items.shape[0], dtype=np.float32))


@pytest.mark.parametrize(
    "model",
    # The last scores exactly the catalogue's ids in its order: no translation needed.
    [popularity(), item_item(), item_item(SERVICE_IDS.copy())],
    ids=["popularity", "item-item", "item-item-on-the-catalogue"],
)
@pytest.mark.parametrize("k", [1, 3, 50])
def test_the_panel_is_the_one_ranking_the_candidates_gives(model: object, k: int) -> None:
    catalog = catalogue()
    rng = np.random.default_rng(k)
    query = Query(history=np.array([12, 13], dtype=np.int64))
    for _ in range(5):
        mask = rng.random(SERVICE_IDS.shape[0]) < 0.6
        ids, scores = top_k(model, query, catalog, mask, k, Alignments(catalog))  # type: ignore[arg-type]
        want_ids, want_scores = rank(model, query, SERVICE_IDS[mask], k)  # type: ignore[arg-type]
        assert ids.tolist() == want_ids.tolist()
        np.testing.assert_allclose(scores, want_scores)
        assert set(ids.tolist()) <= set(SERVICE_IDS[mask].tolist())


def test_popularity_without_context_walks_its_order_and_skips_what_filters_exclude() -> None:
    catalog = catalogue()
    model = popularity()
    ordered = model.ordering(Query())
    assert ordered is not None
    best = [int(i) for i in ordered[0] if 10 <= i < 30]
    mask = np.ones(SERVICE_IDS.shape[0], dtype=bool)
    mask[best[0] == SERVICE_IDS] = False
    ids, _ = top_k(model, Query(), catalog, mask, 3, Alignments(catalog))
    assert ids.tolist() == best[1:4]


def test_nothing_allowed_gives_an_empty_panel() -> None:
    catalog = catalogue()
    mask = np.zeros(SERVICE_IDS.shape[0], dtype=bool)
    ids, scores = top_k(popularity(), Query(), catalog, mask, 3, Alignments(catalog))
    assert ids.shape == (0,) and scores.shape == (0,)


@pytest.mark.parametrize("allowed", [0.9, 0.01, 0.0005])
def test_a_long_order_is_walked_as_far_as_the_filters_need(allowed: float) -> None:
    # 5,000 services: the panel's services can lie past the first stretches of the order.
    n = 5_000
    ids = np.arange(n, dtype=np.int64)
    catalog = catalogue(ids)
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 50, n).astype(np.float32)
    model = PopularityModel(ids, counts, n_users=100, context={}, smoothing=5.0)
    mask = rng.random(n) < allowed
    mask[np.argsort(-counts, kind="stable")[:300]] = False  # nothing allowed near the top
    got, scores = top_k(model, Query(), catalog, mask, 5, Alignments(catalog))
    want, want_scores = rank(model, Query(), ids[mask], 5)
    assert got.tolist() == want.tolist()
    np.testing.assert_allclose(scores, want_scores)


class Scored:
    """Scores the catalogue's own ids, in its order, some of them not at all (NaN)."""

    def __init__(self, scores: np.ndarray, ids: np.ndarray = SERVICE_IDS) -> None:
        self.scores = scores
        self.ids = ids

    def ordering(self, query: Query) -> None:
        return None

    def score_all(self, query: Query) -> tuple[np.ndarray, np.ndarray]:
        return self.ids, self.scores


def test_services_a_model_cannot_score_are_left_out() -> None:
    catalog = catalogue()
    scores = np.linspace(1.0, 0.0, SERVICE_IDS.shape[0], dtype=np.float32)
    scores[[0, 2]] = np.nan
    mask = np.ones(SERVICE_IDS.shape[0], dtype=bool)
    mask[3] = False
    model = Scored(scores)
    ids, _ = top_k(model, Query(), catalog, mask, 3, Alignments(catalog))  # type: ignore[arg-type]
    assert ids.tolist() == [11, 14, 15]


@pytest.mark.parametrize("allowed", [0.95, 0.5, 0.2, 0.001])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_in_a_large_catalogue_the_panel_is_the_best_allowed_with_ties_by_id(
    allowed: float, k: int
) -> None:
    n = 6_000
    ids = np.arange(100, 100 + n, dtype=np.int64)
    catalog = catalogue(ids)
    rng = np.random.default_rng(k)
    for _ in range(4):
        scores = np.floor(rng.random(n) * 40).astype(np.float32)  # many ties
        scores[rng.random(n) < 0.1] = np.nan
        mask = rng.random(n) < allowed
        got, got_scores = top_k(Scored(scores, ids), Query(), catalog, mask, k, Alignments(catalog))  # type: ignore[arg-type]
        usable = np.flatnonzero(mask & np.isfinite(scores))
        want = usable[np.lexsort((ids[usable], -scores[usable]))][:k]
        assert got.tolist() == ids[want].tolist()
        np.testing.assert_array_equal(got_scores, scores[want])
