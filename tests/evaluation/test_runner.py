"""Ranking rule, metric wiring and the report, on tiny data with known answers."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from recommender.arrays import FloatArray, IntArray
from recommender.engines.base import Artifact, Engine, EngineParams, Model, Query, TrainingOptions
from recommender.evaluation.datasets import EvalDataset
from recommender.evaluation.protocols import split
from recommender.evaluation.runner import (
    EngineRun,
    Report,
    evaluate,
    evaluate_blends,
    evaluate_model,
    fit_for,
    rank_top_k,
    validation_on,
)
from recommender.folds import Fold, Heldout
from recommender.interactions import Interactions


def test_ties_go_against_the_held_out_item() -> None:
    scores = np.array([[1.0, 1.0, 1.0, 0.5]], dtype=np.float32)
    relevant = np.array([[True, False, False, False]])
    top, hits = rank_top_k(scores, relevant, np.ones_like(relevant), 3)
    assert top.tolist() == [[1, 2, 0]]
    assert hits.tolist() == [[False, False, True]]
    top, hits = rank_top_k(scores, relevant, np.ones_like(relevant), 2)
    assert top.tolist() == [[1, 2]]
    assert not hits.any()


def test_excluded_items_are_never_ranked_and_nan_ranks_last() -> None:
    scores = np.array([[np.nan, 9.0, 0.1, 5.0]], dtype=np.float32)
    valid = np.array([[True, False, True, True]])
    relevant = np.zeros_like(valid)
    top, _ = rank_top_k(scores, relevant, valid, 4)
    assert top.tolist() == [[3, 2, 0, -1]]


def test_each_row_ranks_on_its_own() -> None:
    scores = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]], dtype=np.float32)
    relevant = np.array([[False, False, True], [False, False, True]])
    top, hits = rank_top_k(scores, relevant, np.ones_like(relevant), 1)
    assert top.tolist() == [[0], [2]]
    assert hits.tolist() == [[False], [True]]


class FixedScores(Model):
    """Scores every item by a fixed vector, whoever asks."""

    engine = "fixed"

    def __init__(self, item_ids: IntArray, scores: FloatArray) -> None:
        self.item_ids, self.scores = item_ids, scores

    def score(self, query: Query, items: IntArray) -> FloatArray:
        return self.scores[np.searchsorted(self.item_ids, items)]

    def to_artifact(self) -> Artifact:
        return Artifact(arrays={}, meta={})

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        raise NotImplementedError


def test_full_ranking_metrics_by_hand() -> None:
    # Items 0-4 scored 5, 4, 3, 2, 1. User A trained on item 0, holds out items 2 and 4;
    # with item 0 excluded its top 2 is [1, 2]: one hit at rank 2.
    train = Interactions.from_events([1], [0], item_ids=np.arange(5))
    heldout = Heldout(
        users=np.array([0]),
        relevant=sp.csr_matrix(np.array([[0, 0, 1, 0, 1]], dtype=np.float32)),
        exclude=sp.csr_matrix(np.array([[1, 0, 0, 0, 0]], dtype=np.float32)),
    )
    model = FixedScores(np.arange(5), np.array([5, 4, 3, 2, 1], dtype=np.float32))
    result = evaluate_model(model, Fold(train=train, heldout=heldout), k=2)
    values = result.metrics
    assert values["HR@2"] == 1.0
    assert values["Recall@2"] == 0.5
    assert values["Precision@2"] == 0.5
    assert values["MRR@2"] == 0.5
    np.testing.assert_allclose(values["NDCG@2"], (1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    assert values["Coverage@2"] == 0.4
    assert result.users == 1


def test_sampled_candidates_rank_only_among_themselves() -> None:
    train = Interactions.from_events([1], [0], item_ids=np.arange(5))
    heldout = Heldout(
        users=np.array([0]),
        relevant=sp.csr_matrix(np.array([[0, 0, 0, 0, 1]], dtype=np.float32)),
        exclude=sp.csr_matrix((1, 5), dtype=np.float32),
        candidates=np.array([[4, 3, -1]]),
    )
    model = FixedScores(np.arange(5), np.array([5, 4, 3, 2, 1], dtype=np.float32))
    values = evaluate_model(model, Fold(train=train, heldout=heldout), k=1).metrics
    # Item 4 (score 1) loses to its only negative, item 3 (score 2).
    assert values["HR@1"] == 0.0
    values = evaluate_model(model, Fold(train=train, heldout=heldout), k=2).metrics
    assert values["HR@2"] == 1.0
    assert values["NDCG@2"] == 1 / np.log2(3)


class Biologists(FixedScores):
    """Ranks service 2 first for people who declared biology (domain 7), service 0 otherwise."""

    def score(self, query: Query, items: IntArray) -> FloatArray:
        top = 2 if 7 in query.scientific_domains else 0
        return np.asarray(items == top, dtype=np.float32)


def test_held_out_users_are_asked_about_with_their_declared_interests() -> None:
    # As serving asks about a logged-in user: id, history and declared domains and categories.
    domains = sp.csr_matrix(np.array([[1, 0], [0, 1]], dtype=np.float32))
    train = Interactions.from_events(
        [1, 2],
        [1, 1],
        user_ids=np.array([1, 2]),
        item_ids=np.arange(3),
        user_features={"scientific_domains": domains},
        feature_vocab={"scientific_domains": np.array([5, 7])},
    )
    heldout = Heldout(
        users=np.array([0, 1]),
        relevant=sp.csr_matrix(np.array([[0, 0, 1], [0, 0, 1]], dtype=np.float32)),
        exclude=sp.csr_matrix((2, 3), dtype=np.float32),
    )
    model = Biologists(np.arange(3), np.zeros(3, dtype=np.float32))
    values = evaluate_model(model, Fold(train=train, heldout=heldout), k=1).metrics
    # Only user 2, the biologist, gets service 2 on top.
    assert values["HR@1"] == 0.5


def small_dataset(seed: int = 0) -> EvalDataset:
    rng = np.random.default_rng(seed)
    # 40 users; popular items (low ids) are used far more often.
    users = np.repeat(np.arange(40), 8)
    items = np.array([rng.choice(30, size=8, replace=False, p=None) for _ in range(40)]).ravel()
    items = np.minimum(items, rng.integers(0, 30, size=items.shape[0]))
    n = users.shape[0]
    return EvalDataset(
        name="small",
        users=users,
        items=items,
        weights=np.ones(n, dtype=np.float32),
        timestamps=np.arange(n, dtype=np.float64),
        ratings=np.full(n, np.nan),
    )


def test_report_json_shape_and_determinism() -> None:
    data = small_dataset()
    engines = {"popularity": {}, "random": {}}
    first = evaluate(data, split("sampled-loo", data, seed=4), engines, k=5, seed=4).to_json()
    second = evaluate(data, split("sampled-loo", data, seed=4), engines, k=5, seed=4).to_json()
    assert first["dataset"] == "small"
    assert first["protocol"] == "sampled-loo"
    assert set(first["results"]) == {"popularity", "random"}
    assert set(first["results"]["popularity"]) == {
        "HR@5", "NDCG@5", "Recall@5", "Precision@5", "MRR@5", "MAP@5", "Coverage@5", "Gini@5"
    }  # fmt: skip
    assert set(first["timings"]["random"]) == {"fit_s", "score_s"}
    assert first["results"] == second["results"]
    assert first["results"]["popularity"]["HR@5"] > first["results"]["random"]["HR@5"]


class CountingModel(FixedScores):
    """Remembers how many training pairs it saw and what an early stop chose."""

    def __init__(self, item_ids: IntArray, pairs: int, epochs: int | None) -> None:
        super().__init__(item_ids, np.zeros(item_ids.shape[0], dtype=np.float32))
        self.pairs, self.epochs = pairs, epochs

    @property
    def fitted_params(self) -> dict[str, Any]:
        return {} if self.epochs is None else {"epochs": self.epochs}

    @property
    def curves(self) -> dict[str, list[float]]:
        return {} if self.epochs is None else {"val": [0.1, 0.3, 0.2]}


class CountingParams(EngineParams):
    epochs: int = 9


class EarlyStopper(Engine[CountingParams]):
    """Picks two epochs when it can stop on validation data, and records what it trained on."""

    name = "early-stopper"
    params_type = CountingParams
    model_type = CountingModel
    uses_validation = True
    fits: list[tuple[int, int]] = []

    def fit(self, data: Interactions, options: TrainingOptions | None = None) -> Model:
        self.fits.append((data.nnz, self.params.epochs))
        stopped = options is not None and options.validation is not None
        return CountingModel(data.item_ids, data.nnz, 2 if stopped else None)


def test_an_early_stopping_engine_is_measured_after_a_refit_on_the_whole_training_part() -> None:
    data = EvalDataset(
        name="tiny",
        users=np.repeat(np.arange(6), 4),
        items=np.tile(np.arange(4), 6),
        weights=np.ones(24, dtype=np.float32),
        timestamps=np.arange(24, dtype=np.float64),
        ratings=np.full(24, np.nan),
    )
    folds = split("temporal-loo", data, 0)
    EarlyStopper.fits = []
    fitted = fit_for(EarlyStopper(), folds.test, folds.validation, TrainingOptions())
    assert isinstance(fitted.model, CountingModel)
    assert EarlyStopper.fits == [(folds.validation.train.nnz, 9), (folds.test.train.nnz, 2)]
    assert fitted.model.pairs == folds.test.train.nnz
    assert fitted.fitted_params == {"epochs": 2}
    assert fitted.curves == {"val": [0.1, 0.3, 0.2]}


def test_the_report_carries_the_training_curves_of_engines_that_record_them() -> None:
    def run(engine: str, curves: dict[str, list[float]]) -> EngineRun:
        return EngineRun(engine, {}, {"HR@5": 0.5}, fit_s=1.0, score_s=0.1, users=3, curves=curves)

    report = Report("tiny", "temporal-loo", 5, 0, {}, [run("ncf", {"loss": [0.7, 0.5]})])
    report.runs.append(run("popularity", {}))
    assert report.to_json()["curves"] == {"ncf": {"loss": [0.7, 0.5]}}


def _one_held_out_item_each(n_users: int, n_items: int) -> Fold:
    """User u trained on nothing but item u % n_items and holds out item (u + 1) % n_items."""
    users = np.arange(n_users)
    train = Interactions.from_events(users + 1, users % n_items, item_ids=np.arange(n_items))
    held = (users + 1) % n_items
    ones = np.ones(n_users, dtype=np.float32)
    return Fold(
        train=train,
        heldout=Heldout(
            users=users,
            relevant=sp.csr_matrix((ones, (users, held)), shape=(n_users, n_items)),
            exclude=sp.csr_matrix((ones, (users, users % n_items)), shape=(n_users, n_items)),
        ),
    )


def test_validation_checks_a_seeded_sample_of_held_out_users_with_their_own_items() -> None:
    fold = _one_held_out_item_each(n_users=500, n_items=10)
    checked = validation_on(fold, k=1, most=60, seed=3)
    users = checked.fold.heldout.users
    assert users.shape[0] == 60 and np.unique(users).shape[0] == 60
    assert validation_on(fold, k=1, most=60, seed=3).fold.heldout.users.tolist() == users.tolist()
    assert validation_on(fold, k=1, most=60, seed=4).fold.heldout.users.tolist() != users.tolist()
    # Each sampled row still holds its own user's held-out and known items.
    relevant = checked.fold.heldout.relevant.tocoo()
    assert (relevant.col[np.argsort(relevant.row)] == (users + 1) % 10).all()
    assert (checked.fold.heldout.exclude.indices == users % 10).all()
    # A model that ranks item 3 first finds exactly the sampled users who hold out item 3.
    model = FixedScores(np.arange(10), np.eye(10, dtype=np.float32)[3])
    assert checked.evaluate(model)["HR"] == np.mean((users + 1) % 10 == 3)


def test_a_validation_fold_within_the_cap_is_checked_whole() -> None:
    fold = _one_held_out_item_each(n_users=50, n_items=10)
    assert validation_on(fold, k=1, most=50).fold is fold


def test_blends_are_measured_as_the_summed_models_would_be() -> None:
    fold = _one_held_out_item_each(n_users=200, n_items=10)
    rng = np.random.default_rng(0)
    base_scores = rng.normal(size=10).astype(np.float32)
    extra_scores = rng.normal(size=10).astype(np.float32)
    weights = (0.0, 0.5, 2.0, 16.0)
    blended = evaluate_blends(
        FixedScores(np.arange(10), base_scores),
        FixedScores(np.arange(10), extra_scores),
        weights,
        fold,
        k=3,
    )
    for weight, result in zip(weights, blended, strict=True):
        summed = FixedScores(np.arange(10), base_scores + np.float32(weight) * extra_scores)
        assert result.metrics == evaluate_model(summed, fold, k=3).metrics
    # The weights change the ranking, so the results are not one figure repeated.
    assert len({result.metrics["HR@3"] for result in blended}) > 1
