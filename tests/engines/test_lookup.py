from __future__ import annotations

import numpy as np
import pytest

from recommender.engines.base import Query
from recommender.engines.lookup import IdIndex, history_matrix, positions


@pytest.mark.parametrize("ids", [[3, 5, 9, 10], [3, 10**12, 10**15], [7]])
def test_index_matches_bisection(ids: list[int]) -> None:
    sorted_ids = np.array(ids, dtype=np.int64)
    wanted = np.array([*ids[::-1], 0, 4, 11, -5, 10**16], dtype=np.int64)
    np.testing.assert_array_equal(IdIndex(sorted_ids)(wanted), positions(sorted_ids, wanted))


def test_dense_ids_get_a_table_and_sparse_ids_do_not() -> None:
    assert IdIndex(np.arange(100, 200)).table is not None
    assert IdIndex(np.array([1, 10**12])).table is None
    assert IdIndex(np.empty(0, dtype=np.int64))([1, 2]).tolist() == [-1, -1]


def test_history_matrix_drops_unknown_items_and_repeats() -> None:
    index = IdIndex(np.array([10, 20, 30]))
    matrix = history_matrix(index, [Query(history=np.array([30, 10, 30, 99])), Query()])
    assert matrix.toarray().tolist() == [[1, 0, 1], [0, 0, 0]]
