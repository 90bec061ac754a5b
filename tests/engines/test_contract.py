"""The contract catches a broken engine: one that fits, saves and loads, and scores nothing."""

from __future__ import annotations

import inspect
from typing import Any, Self

import numpy as np
import pytest

from recommender.arrays import FloatArray, IntArray
from recommender.engines.base import Artifact, Engine, EngineParams, Model, Query, TrainingOptions
from recommender.interactions import Interactions
from tests.engines.contract import EngineContract
from tests.engines.test_popularity import TestPopularityContract


class NaNModel(Model):
    """Claims to know everybody, explains politely, and gives every item NaN."""

    engine = "nan"

    def __init__(self, item_ids: IntArray) -> None:
        self.item_ids = item_ids

    def knows(self, query: Query) -> bool:
        return True

    def score(self, query: Query, items: IntArray) -> FloatArray:
        return np.full(items.shape[0], np.nan, dtype=np.float32)

    def to_artifact(self) -> Artifact:
        return Artifact(arrays={"item_ids": self.item_ids}, meta={})

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        return cls(artifact.arrays["item_ids"])


class NaNEngine(Engine[EngineParams]):
    name = "nan"
    params_type = EngineParams
    model_type = NaNModel

    def fit(self, data: Interactions, options: TrainingOptions | None = None) -> NaNModel:
        return NaNModel(data.item_ids.copy())


class NaNContract(EngineContract):
    """The contract applied to the broken engine (not named Test*: pytest does not collect it)."""

    engine_name = "nan"
    personalised = False

    def engine(self) -> Engine[Any]:
        return NaNEngine()


# Every check of the contract that asks for scores of items the model was trained on.
SCORING_CHECKS = (
    "test_scores_one_float_per_item",
    "test_unknown_items_score_nan",
    "test_answers_unknown_and_anonymous_users",
    "test_batch_matches_single",
    "test_artifact_round_trip",
    "test_deterministic_under_seed",
    "test_refit_does_not_remember_earlier_data",
    "test_fits_a_catalogue_nobody_used",
)


def run_check(contract: EngineContract, name: str) -> None:
    """Call one contract check as pytest would, with the class's trained model if it asks."""
    check = getattr(contract, name)
    if "trained" in inspect.signature(check).parameters:
        check(contract.fit_checkerboard())
    else:
        check()


def test_scoring_checks_are_contract_tests() -> None:
    names = {name for name in dir(EngineContract) if name.startswith("test_")}
    assert set(SCORING_CHECKS) <= names


@pytest.mark.parametrize("name", SCORING_CHECKS)
def test_an_engine_that_scores_only_nan_fails(name: str) -> None:
    with pytest.raises(AssertionError):
        run_check(NaNContract(), name)


@pytest.mark.parametrize("name", SCORING_CHECKS)
def test_the_same_checks_pass_a_working_engine(name: str) -> None:
    run_check(TestPopularityContract(), name)


class ConstantModel(NaNModel):
    """Scores every item alike: finite, and useless."""

    def score(self, query: Query, items: IntArray) -> FloatArray:
        return np.where(np.isin(items, self.item_ids), 1.0, np.nan).astype(np.float32)


def test_an_engine_that_ranks_nothing_fails() -> None:
    class ConstantEngine(NaNEngine):
        model_type = ConstantModel

        def fit(self, data: Interactions, options: TrainingOptions | None = None) -> NaNModel:
            return ConstantModel(data.item_ids.copy())

    class ConstantContract(NaNContract):
        def engine(self) -> Engine[Any]:
            return ConstantEngine()

    with pytest.raises(AssertionError, match="ranks nothing"):
        run_check(ConstantContract(), "test_scores_one_float_per_item")


class ClaimsToKnowEmptyQueries(EngineContract):
    engine_name = "popularity"
    personalised = True  # wrongly: popularity knows nothing personal


def test_a_model_that_claims_to_know_an_empty_query_fails_when_it_should_not() -> None:
    with pytest.raises(AssertionError):
        run_check(ClaimsToKnowEmptyQueries(), "test_knows_who_it_can_personalise_for")
