"""Every metric against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.evaluation import metrics

# Four users, K = 3: a hit at 2 of 2 relevant; hits at 1 and 3 of 2; no hit of 1; none held out.
HITS = np.array(
    [[False, True, False], [True, False, True], [False, False, False], [False, False, False]]
)
N_RELEVANT = np.array([2, 2, 1, 0])
LOG3 = math.log2(3)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("HR", [1.0, 1.0, 0.0, 0.0]),
        ("Precision", [1 / 3, 2 / 3, 0.0, 0.0]),
        ("Recall", [0.5, 1.0, 0.0, 0.0]),
        ("NDCG", [(1 / LOG3) / (1 + 1 / LOG3), 1.5 / (1 + 1 / LOG3), 0.0, 0.0]),
        ("MRR", [0.5, 1.0, 0.0, 0.0]),
        ("MAP", [0.5 / 2, (1 + 2 / 3) / 2, 0.0, 0.0]),
    ],
)
def test_ranking_metric_by_hand(name: str, expected: list[float]) -> None:
    values = metrics.RANKING_METRICS[name](HITS, N_RELEVANT)
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_ndcg_ideal_is_capped_at_k() -> None:
    # Five relevant items but only two slots, both hit: a perfect list.
    assert metrics.ndcg(np.array([[True, True]]), np.array([5]))[0] == pytest.approx(1.0)
    assert metrics.average_precision(np.array([[True, True]]), np.array([5]))[0] == 1.0


def test_single_held_out_item_ndcg_is_the_discount_at_its_rank() -> None:
    hits = np.zeros((1, 10), dtype=bool)
    hits[0, 3] = True
    assert metrics.ndcg(hits, np.array([1]))[0] == pytest.approx(1 / math.log2(5))
    assert metrics.reciprocal_rank(hits, np.array([1]))[0] == pytest.approx(0.25)


def test_no_users_gives_empty_values() -> None:
    empty = np.zeros((0, 10), dtype=bool)
    for metric in metrics.RANKING_METRICS.values():
        assert metric(empty, np.zeros(0, dtype=np.int64)).shape == (0,)


def test_coverage_counts_distinct_items_and_ignores_padding() -> None:
    top = np.array([[0, 1, 2], [2, 3, -1]])
    assert metrics.coverage(top, 5) == pytest.approx(0.8)
    assert metrics.coverage(np.zeros((0, 3), dtype=np.int64), 5) == 0.0


def test_gini_by_hand() -> None:
    # Exposure [1, 3]: mean absolute difference 1, mean 2 -> 1 / (2 * 2) = 0.25.
    assert metrics.gini(np.array([[0, 1], [1, -1], [1, -1]]), 2) == pytest.approx(0.25)
    # One item takes every slot among four: (n - 1) / n.
    assert metrics.gini(np.array([[3], [3], [3]]), 4) == pytest.approx(0.75)
    # Perfectly even exposure.
    assert metrics.gini(np.array([[0, 1], [2, 3]]), 4) == pytest.approx(0.0)
    assert metrics.gini(np.zeros((0, 2), dtype=np.int64), 4) == 0.0


def test_labels() -> None:
    assert metrics.metric_label("NDCG", 10) == "NDCG@10"
    assert set(metrics.METRIC_NAMES) == {
        "HR", "NDCG", "Recall", "Precision", "MRR", "MAP", "Coverage", "Gini"
    }  # fmt: skip
