from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommender.engines.base import Query
from recommender.engines.item_item import sparse_rows
from recommender.engines.itemknn import ItemKNNEngine
from recommender.interactions import Interactions
from tests.engines.contract import PersonalisedEngineContract, checkerboard


class TestItemKNNContract(PersonalisedEngineContract):
    engine_name = "itemknn"
    params: ClassVar[dict[str, Any]] = {"neighbours": 5, "shrink": 0.0}


class StubNames:
    def service(self, service_id: int) -> str | None:
        return f"service {service_id}"

    def scientific_domain(self, domain_id: int) -> str | None:
        return None

    def category(self, category_id: int) -> str | None:
        return None


def test_keeps_at_most_k_neighbours_per_item() -> None:
    data, _ = checkerboard()
    model = ItemKNNEngine({"neighbours": 2}).fit(data)
    assert isinstance(model.weights, sp.csr_matrix)
    per_target = np.diff(model.weights.tocsc().indptr)
    assert per_target.max() <= 2
    assert model.weights.diagonal().max() == 0.0


def test_cosine_by_hand() -> None:
    # Items 10 and 11 share two of their users (cosine 2 / (2 * 2) = 0.5 ... over norms
    # sqrt(2) * sqrt(3)); item 12 shares none with 10.
    data = Interactions.from_events([1, 2, 1, 2, 3, 4], [10, 10, 11, 11, 11, 12])
    model = ItemKNNEngine({"shrink": 0.0, "normalise": False}).fit(data)
    weights = model.weights.toarray()
    np.testing.assert_allclose(weights[0, 1], 2 / np.sqrt(2 * 3), rtol=1e-6)
    assert weights[0, 2] == 0.0
    scores = model.score(Query(history=np.array([10])), np.array([11, 12]))
    assert scores[0] > scores[1]


def test_explains_with_the_strongest_history_item() -> None:
    data, _ = checkerboard()
    model = ItemKNNEngine().fit(data)
    [explanation] = model.explain(Query(history=np.array([100])), np.array([101]), StubNames())
    assert explanation.short == "Because you used service 100"


def test_anonymous_users_get_popular_items_first() -> None:
    data = Interactions.from_events([1, 2, 3, 1], [10, 10, 10, 11])
    model = ItemKNNEngine().fit(data)
    scores = model.score(Query(), np.array([10, 11]))
    assert scores[0] > scores[1]


def test_sparse_rows_gathers_each_asked_row_s_entries() -> None:
    matrix = sp.random(12, 9, density=0.3, format="csr", random_state=1, dtype=np.float32)
    rows = np.array([3, 0, 3, 11, 7])
    which, columns, values = sparse_rows(matrix, rows)
    rebuilt = sp.csr_matrix((values, (which, columns)), shape=(rows.shape[0], 9)).toarray()
    np.testing.assert_array_equal(rebuilt, matrix[rows].toarray())
    empty = sparse_rows(matrix, np.empty(0, dtype=np.int64))
    assert all(part.shape == (0,) for part in empty)
