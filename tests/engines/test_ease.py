from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from recommender.engines.base import Query
from recommender.engines.ease import EASEEngine
from recommender.engines.limits import EngineLimitError
from recommender.interactions import Interactions
from tests.engines.contract import PersonalisedEngineContract, checkerboard


class TestEASEContract(PersonalisedEngineContract):
    engine_name = "ease"
    params: ClassVar[dict[str, Any]] = {"l2": 1.0}


def test_matches_the_closed_form() -> None:
    data, _ = checkerboard()
    l2 = 3.0
    model = EASEEngine({"l2": l2}).fit(data)
    x = data.matrix.toarray().astype(np.float64)
    # Steck (2019), eq. 8: B = I - P diagMat(1 / diag(P)), P = (X^T X + l2 I)^-1.
    p = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    expected = np.eye(x.shape[1]) - p / np.diag(p)
    np.testing.assert_allclose(model.weights, expected, atol=1e-5)
    assert np.all(np.diag(model.weights) == 0)


def test_stronger_penalty_shrinks_weights() -> None:
    data, _ = checkerboard()
    weak = np.abs(EASEEngine({"l2": 1.0}).fit(data).weights).sum()
    strong = np.abs(EASEEngine({"l2": 100.0}).fit(data).weights).sum()
    assert strong < weak


def test_batch_scores_from_histories_of_unknown_users() -> None:
    data, _ = checkerboard()
    model = EASEEngine({"l2": 1.0}).fit(data)
    queries = [Query(history=np.array([100, 101])), Query(), Query(history=np.array([999]))]
    batch = model.score_batch(queries, data.item_ids)
    for row, query in enumerate(queries):
        np.testing.assert_allclose(batch[row], model.score(query, data.item_ids), rtol=1e-5)


def test_a_history_s_scores_are_its_rows_of_the_weights_summed() -> None:
    """Whatever was asked before: queries in turn, the same one again, repeated items."""
    data, _ = checkerboard()
    model = EASEEngine({"l2": 1.0}).fit(data)
    ids = data.item_ids
    first, second = Query(history=ids[[0, 2, 0]]), Query(history=ids[[1, 3, 4]])
    for query in (first, second, second, first, Query(history=ids[[1, 3, 4]])):
        rows = np.unique(np.searchsorted(ids, query.history))
        expected = np.zeros(ids.shape[0], dtype=np.float32)
        for row in rows:
            expected += model.weights[row]
        np.testing.assert_array_equal(model.score(query, ids), expected)
        np.testing.assert_array_equal(model.score_all(query)[1], expected)


def test_refuses_catalogues_too_large_to_invert() -> None:
    with pytest.raises(EngineLimitError, match="ease is limited to 3 services and the data has 4"):
        EASEEngine(max_items=3).fit(Interactions.from_events([1] * 4, [1, 2, 3, 4]))


def test_declares_an_item_limit_and_memory_that_grows_with_the_square() -> None:
    limits = EASEEngine().limits()
    assert limits.max_items == 20_000
    assert limits.memory_bytes(0, 2_000) == pytest.approx(4 * limits.memory_bytes(0, 1_000))
    # 100,000 services would need hundreds of GiB: the refusal says so.
    message = limits.refusal("ease", 1_000_000, 100_000)
    assert message is not None and "GiB" in message and "ENGINE_MAX_ITEMS" in message


def test_dropout_penalises_popular_items_more() -> None:
    data, _ = checkerboard()
    x = data.matrix.toarray().astype(np.float64)
    gram = x.T @ x
    model = EASEEngine({"l2": 2.0, "dropout": 0.5}).fit(data)
    # EDLAE: the penalty becomes l2 + p / (1 - p) * diag(X^T X) = 2 + diag(G).
    p = np.linalg.inv(gram + np.diag(2.0 + np.diag(gram)))
    np.testing.assert_allclose(model.weights, np.eye(x.shape[1]) - p / np.diag(p), atol=1e-5)
