"""Protocols on tiny hand-made data: who is held out, what is excluded, what is ranked."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.evaluation.datasets import EvalDataset, ShippedTest
from recommender.evaluation.protocols import full_random, sampled_loo, split, temporal_loo
from recommender.folds import Fold


def dataset(
    users: list[int],
    items: list[int],
    times: list[float] | None = None,
    shipped: ShippedTest | None = None,
) -> EvalDataset:
    n = len(users)
    return EvalDataset(
        name="tiny",
        users=np.array(users, dtype=np.int64),
        items=np.array(items, dtype=np.int64),
        weights=np.ones(n, dtype=np.float32),
        timestamps=np.array(times if times is not None else [np.nan] * n, dtype=np.float64),
        ratings=np.full(n, np.nan),
        shipped_test=shipped,
    )


def held_out(fold: Fold) -> dict[int, list[int]]:
    """External user id -> external ids of its held-out items."""
    train, heldout = fold.train, fold.heldout
    out = {}
    for row, user in enumerate(heldout.users):
        columns = heldout.relevant[row].indices
        out[int(train.user_ids[user])] = sorted(train.item_ids[columns].tolist())
    return out


def excluded(fold: Fold, user: int) -> list[int]:
    row = int(np.flatnonzero(fold.train.user_ids[fold.heldout.users] == user)[0])
    return sorted(fold.train.item_ids[fold.heldout.exclude[row].indices].tolist())


def trained(fold: Fold, user: int) -> list[int]:
    row = int(fold.train.user_index([user])[0])
    return sorted(fold.train.item_ids[fold.train.matrix[row].indices].tolist())


# User 1: items 10, 11, 12 at times 3, 1, 2 -> latest 10, then 12.
# User 2: item 11 without a time, item 13 at time 5 -> latest 13; a single pair left after it.
# User 3: one pair only -> never held out.
TIMED = dataset([1, 1, 1, 2, 2, 3], [10, 11, 12, 11, 13, 10], [3, 1, 2, np.nan, 5, 1])


def test_temporal_loo_holds_out_the_latest_pair_and_ranks_everything_else() -> None:
    result = temporal_loo(TIMED)
    assert held_out(result.test) == {1: [10], 2: [13]}
    assert trained(result.test, 1) == [11, 12]
    assert trained(result.test, 3) == [10]
    assert excluded(result.test, 1) == [11, 12]
    assert result.test.heldout.candidates is None
    # Validation comes from the training part only: the second-latest pair of user 1; user 2
    # has a single training pair left, so it only trains.
    assert held_out(result.validation) == {1: [12]}
    assert trained(result.validation, 1) == [11]
    assert 10 not in trained(result.validation, 1)


def test_pairs_without_time_are_older_and_ties_follow_the_source_order() -> None:
    data = dataset([1, 1, 1], [20, 21, 22], [np.nan, 7, 7])
    assert held_out(temporal_loo(data).test) == {1: [22]}


def test_repeated_events_of_a_held_out_pair_never_reach_training() -> None:
    data = dataset([1, 1, 1, 1], [10, 11, 10, 12], [1, 2, 9, 3])
    result = temporal_loo(data)
    assert held_out(result.test) == {1: [10]}
    assert trained(result.test, 1) == [11, 12]


def test_sampled_loo_ranks_the_held_out_item_among_unused_items() -> None:
    users = [u for u in range(1, 6) for _ in range(3)]
    items = [u * 3 + j for u in range(5) for j in range(3)]
    data = dataset(users, items, list(range(len(users))))
    result = sampled_loo(data, seed=1, n_negatives=4)
    heldout, train = result.test.heldout, result.test.train
    assert heldout.candidates is not None
    assert heldout.candidates.shape == (5, 5)
    for row, user in enumerate(heldout.users):
        positives = set(train.matrix[user].indices) | set(heldout.relevant[row].indices)
        target, *negatives = heldout.candidates[row].tolist()
        assert heldout.relevant[row].indices.tolist() == [target]
        assert len(set(negatives)) == 4
        assert not positives & set(negatives)
    again = sampled_loo(data, seed=1, n_negatives=4).test.heldout.candidates
    other = sampled_loo(data, seed=2, n_negatives=4).test.heldout.candidates
    np.testing.assert_array_equal(heldout.candidates, again)
    assert not np.array_equal(heldout.candidates, other)


def test_sampled_loo_pads_when_the_catalogue_is_too_small() -> None:
    data = dataset([1, 1, 2], [10, 11, 12], [1, 2, 3])
    candidates = sampled_loo(data, n_negatives=3).test.heldout.candidates
    assert candidates is not None
    # User 1 never used only item 12: one negative, two pads.
    assert sorted(candidates[0].tolist()) == [-1, -1, 1, 2]


def test_sampled_loo_uses_shipped_negatives_and_drops_the_target_among_them() -> None:
    shipped = ShippedTest(
        users=np.array([1, 2]), items=np.array([11, 12]), negatives=np.array([[13, 14], [12, 10]])
    )
    data = dataset([1, 1, 2, 2, 3], [10, 11, 10, 12, 13], shipped=shipped)
    result = sampled_loo(data, seed=0)
    assert held_out(result.test) == {1: [11], 2: [12]}
    train, candidates = result.test.train, result.test.heldout.candidates
    assert candidates is not None
    named = [[int(train.item_ids[c]) if c >= 0 else -1 for c in row] for row in candidates]
    assert named == [[11, 13, 14], [12, -1, 10]]
    assert trained(result.test, 1) == [10]


def test_full_random_shares_per_user() -> None:
    users = [1] * 10 + [2] * 20 + [3] * 2
    items = list(range(10)) + list(range(20)) + [0, 1]
    result = full_random(dataset(users, items), seed=3)
    test, validation = held_out(result.test), held_out(result.validation)
    assert {u: len(i) for u, i in test.items()} == {1: 1, 2: 2}
    assert {u: len(i) for u, i in validation.items()} == {1: 1, 2: 2}
    for user, n in ((1, 10), (2, 20)):
        train = trained(result.test, user)
        assert len(train) == n - 2 * len(test[user])
        assert not set(train) & set(test[user])
        assert not set(validation[user]) & set(test[user])
        assert sorted(train + test[user] + validation[user]) == list(range(n))
        # The test ranks neither the training nor the validation items.
        assert excluded(result.test, user) == sorted(train + validation[user])
        assert excluded(result.validation, user) == train
    assert trained(result.test, 3) == [0, 1]
    assert result.test.train.nnz == result.validation.train.nnz


def test_full_random_is_deterministic_under_seed() -> None:
    data = dataset([1] * 30, list(range(30)))
    first = held_out(full_random(data, seed=5).test)
    assert first == held_out(full_random(data, seed=5).test)
    assert first != held_out(full_random(data, seed=6).test)


def test_folds_share_the_id_space() -> None:
    result = split("temporal-loo", TIMED)
    np.testing.assert_array_equal(result.test.train.item_ids, [10, 11, 12, 13])
    np.testing.assert_array_equal(result.validation.train.user_ids, [1, 2, 3])


def test_unknown_protocol() -> None:
    with pytest.raises(ValueError, match="sampled-loo"):
        split("leave-two-out", TIMED)
