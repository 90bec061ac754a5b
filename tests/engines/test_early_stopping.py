"""The one early-stopping rule: best check kept, stop after `patience` checks without progress."""

from __future__ import annotations

import math

import pytest

from recommender.engines.early_stopping import EarlyStopping


def run(stopping: EarlyStopping[str], scores: list[float]) -> int:
    """Check scores in order until told to stop; the number of checks taken."""
    for at, score in enumerate(scores, start=1):
        if stopping.check(at, {"NDCG": score, "loss": -score}, lambda at=at: f"state {at}"):
            return at
    return len(scores)


def test_stops_patience_checks_after_the_best_and_keeps_it() -> None:
    stopping: EarlyStopping[str] = EarlyStopping("NDCG", patience=2)
    assert run(stopping, [0.1, 0.3, 0.2, 0.25, 0.9]) == 4
    assert (stopping.best_at, stopping.best_score, stopping.best_state) == (2, 0.3, "state 2")


def test_a_tie_is_no_progress() -> None:
    stopping: EarlyStopping[str] = EarlyStopping("NDCG", patience=1)
    assert run(stopping, [0.2, 0.2, 0.5]) == 2
    assert stopping.best_at == 1


def test_follows_the_named_figure_lower_being_better_for_a_loss() -> None:
    stopping: EarlyStopping[str] = EarlyStopping("loss", patience=3, lower_is_better=True)
    # The loss is minus the score: its best is where the score is highest.
    assert run(stopping, [0.1, 0.4, 0.3]) == 3
    assert stopping.best_at == 2 and stopping.best_score == -0.4


def test_nan_never_counts_as_progress() -> None:
    stopping: EarlyStopping[str] = EarlyStopping("NDCG", patience=2)
    assert run(stopping, [math.nan, math.nan, 0.5]) == 2
    assert stopping.best_state is None and stopping.best_at == 0


def test_asks_for_a_copy_of_the_state_only_when_it_improves() -> None:
    copies: list[int] = []
    stopping: EarlyStopping[int] = EarlyStopping("NDCG", patience=5)
    for at, score in enumerate([0.1, 0.05, 0.2, 0.2], start=1):
        stopping.check(at, {"NDCG": score}, lambda at=at: copies.append(at) or at)
    assert copies == [1, 3]


def test_patience_must_allow_one_check() -> None:
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping("NDCG", patience=0)
