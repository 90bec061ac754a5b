from __future__ import annotations

import numpy as np
import pytest

from recommender.engines.ranking import best_k


def reference(scores: np.ndarray, ids: np.ndarray, k: int) -> list[int]:
    """The k best positions by a full sort: score descending, then id ascending."""
    return np.lexsort((ids, -scores))[:k].tolist()


@pytest.mark.parametrize("n", [0, 2, 50, 1_500, 20_000])
@pytest.mark.parametrize("k", [1, 3, 10, 100])
@pytest.mark.parametrize("levels", [3, 50, None], ids=["few-ties", "some-ties", "continuous"])
def test_the_k_best_are_those_a_full_sort_gives(n: int, k: int, levels: int | None) -> None:
    rng = np.random.default_rng(n * 1000 + k)
    for _ in range(3):
        raw = rng.random(n)
        scores = (raw if levels is None else np.floor(raw * levels)).astype(np.float32)
        ids = rng.permutation(n).astype(np.int64) + 7
        assert best_k(scores, ids, k).tolist() == reference(scores, ids, k)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_the_best_hidden_between_sampled_positions_are_found(k: int) -> None:
    # Every sampled position low and the best everywhere else: a sample sees none of them.
    n = 20_000
    scores = np.zeros(n, dtype=np.float32)
    for step in range(2, 400):
        scores[::step] = -1.0
    rng = np.random.default_rng(k)
    scores[scores == 0] = rng.random(int((scores == 0).sum()), dtype=np.float32) + 1.0
    ids = np.arange(n, dtype=np.int64)
    assert best_k(scores, ids, k).tolist() == reference(scores, ids, k)


def test_ties_at_the_kth_score_go_to_the_smallest_ids() -> None:
    scores = np.ones(10_000, dtype=np.float32)
    scores[[17, 4_000]] = 2.0
    ids = np.arange(10_000, dtype=np.int64)[::-1].copy()
    # After the two best, the ties go to the smallest ids, which sit at the end.
    assert best_k(scores, ids, 5).tolist() == [4_000, 17, 9_999, 9_998, 9_997]
