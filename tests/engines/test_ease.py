from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from recommender.engines import item_item
from recommender.engines.base import Query
from recommender.engines.ease import EASEEngine
from recommender.engines.limits import EngineLimitError
from recommender.interactions import Interactions
from tests.engines.contract import NumberedNames, PersonalisedEngineContract, checkerboard


class TestEASEContract(PersonalisedEngineContract):
    engine_name = "ease"
    params: ClassVar[dict[str, Any]] = {"l2": 1.0}


class TestEASEKeepingThreeNeighboursContract(PersonalisedEngineContract):
    engine_name = "ease"
    params: ClassVar[dict[str, Any]] = {"l2": 1.0, "neighbours": 3}


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


@pytest.mark.parametrize("neighbours", [0, 8])
def test_a_returning_visitor_s_scores_follow_each_change_of_their_history(
    monkeypatch: pytest.MonkeyPatch, neighbours: int
) -> None:
    """Histories grow, shrink and are replaced, for visitors asking in turn, with room kept
    for two visitors' sums only: every answer equals the history's rows summed afresh, with
    every weight kept and with each service's 8 strongest."""
    rng = np.random.default_rng(3)
    n_items = 30
    data = Interactions.from_events(
        rng.integers(1, 200, size=2_000).tolist(), rng.integers(1, n_items + 1, size=2_000).tolist()
    )
    monkeypatch.setattr(item_item, "RUNNING_BYTES", 2 * 4 * n_items)
    model = EASEEngine({"l2": 5.0, "neighbours": neighbours}).fit(data)
    ids = data.item_ids
    histories = {visitor: [int(ids[0])] for visitor in ("user:1", "user:2", "b:3")}
    for step in range(300):
        visitor = ("user:1", "user:1", "user:2", "b:3")[step % 4]
        history = histories[visitor]
        if step % 50 == 49:
            history[:] = rng.choice(ids, size=12, replace=False).tolist()
        elif len(history) > 1 and rng.random() < 0.4:
            history.pop(int(rng.integers(len(history))))
        elif rng.random() < 0.9:
            history.append(int(rng.choice(ids)))
        fresh = model.score_all(Query(history=np.array(history)))[1]
        asked = Query(history=np.array(history), visitor=visitor)
        np.testing.assert_allclose(model.score_all(asked)[1], fresh, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(model.score(asked, ids[::-1]), fresh[::-1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("neighbours", [0, 4])
def test_each_service_is_explained_by_the_history_item_that_suggests_it_most(
    neighbours: int,
) -> None:
    """Whole panels at once, with every weight kept and with each service's 4 strongest;
    a service no history item suggests, or one the model never saw, gets no reason."""
    rng = np.random.default_rng(5)
    data = Interactions.from_events(
        rng.integers(1, 100, size=800).tolist(), rng.integers(1, 21, size=800).tolist()
    )
    model = EASEEngine({"l2": 5.0, "neighbours": neighbours}).fit(data)
    ids = data.item_ids
    weights = model.weights if neighbours == 0 else model.weights.toarray()
    for _ in range(20):
        history = np.sort(rng.choice(ids, size=5, replace=False))
        panel = np.append(rng.choice(ids, size=6, replace=False), 999)
        explanations = model.explain(Query(history=history), panel, NumberedNames())
        rows = np.searchsorted(ids, history)
        for service, explanation in zip(panel.tolist(), explanations, strict=True):
            if service == 999:
                assert not explanation.short.startswith("Because")
                continue
            strengths = weights[rows, np.searchsorted(ids, service)]
            if strengths.max() > 0:
                strongest = history[np.argmax(strengths)]
                assert explanation.short == f"Because you used service {strongest}"
            else:
                assert not explanation.short.startswith("Because")


def test_keeps_each_service_s_strongest_weights_when_asked() -> None:
    rng = np.random.default_rng(4)
    data = Interactions.from_events(
        rng.integers(1, 60, size=400).tolist(), rng.integers(1, 13, size=400).tolist()
    )
    dense = EASEEngine({"l2": 2.0}).fit(data)
    pruned = EASEEngine({"l2": 2.0, "neighbours": 3}).fit(data)
    assert isinstance(dense.weights, np.ndarray) and pruned.meta["neighbours"] == 3
    kept = pruned.weights.toarray()
    expected = np.zeros_like(dense.weights)
    for row, weights in enumerate(dense.weights):
        strongest = np.argsort(-np.abs(weights), kind="stable")[:3]
        expected[row, strongest] = weights[strongest]
    np.testing.assert_allclose(kept, expected, rtol=1e-6)
    assert (np.count_nonzero(kept, axis=1) <= 3).all()
    ids = data.item_ids
    for history in (ids[[0]], ids[[1, 5, 7]], ids[[2, 2, 11]]):
        query = Query(history=history)
        rows = np.unique(np.searchsorted(ids, history))
        np.testing.assert_allclose(model_scores := pruned.score(query, ids), kept[rows].sum(0))
        np.testing.assert_allclose(pruned.score_all(query)[1], model_scores)
        np.testing.assert_allclose(pruned.score_batch([query], ids)[0], model_scores, rtol=1e-6)
    again = type(pruned).from_artifact(pruned.to_artifact())
    np.testing.assert_array_equal(
        again.score(Query(history=ids[[1, 5]]), ids), pruned.score(Query(history=ids[[1, 5]]), ids)
    )


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
