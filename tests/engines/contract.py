"""The contract every engine honours, checked by subclassing `EngineContract` in its test module."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from recommender.engines import engine_class
from recommender.engines.base import Artifact, Model, Query, TrainingOptions
from recommender.interactions import Interactions

GROUP_SIZE = 12
ITEMS_PER_GROUP = 6


def checkerboard(seed: int = 0) -> tuple[Interactions, dict[int, int]]:
    """Two groups of users, each using only its own block of items; one item held out per user.

    Returns the training data and, per user, the held-out item. Any engine that learns from
    co-occurrence must rank a user's held-out item above every item of the other block.
    """
    rng = np.random.default_rng(seed)
    users, items, held_out = [], [], {}
    for group in range(2):
        block = np.arange(ITEMS_PER_GROUP) + 100 + group * ITEMS_PER_GROUP
        for u in range(GROUP_SIZE):
            user = 1 + group * GROUP_SIZE + u
            chosen = rng.permutation(block)[: ITEMS_PER_GROUP - 1]
            held_out[user] = int(chosen[-1])
            for item in chosen[:-1]:
                users.append(user)
                items.append(int(item))
    data = Interactions.from_events(
        users, items, timestamps=np.arange(len(users), dtype=float), item_ids=np.arange(100, 112)
    )
    return data, held_out


class EngineContract:
    """Subclass with `engine_name` (and `params` to keep training small) to check an engine."""

    engine_name: ClassVar[str]
    params: ClassVar[dict[str, Any]] = {}
    # Whether the engine learns per-user preferences (popularity and random do not).
    personalised: ClassVar[bool] = True

    def fit(self, data: Interactions, seed: int = 0) -> Model:
        engine = engine_class(self.engine_name)(self.params)
        return engine.fit(data, TrainingOptions(seed=seed))

    @pytest.fixture(scope="class")
    @classmethod
    def trained(cls) -> tuple[Model, Interactions, dict[int, int]]:
        data, held_out = checkerboard()
        return cls.fit(cls(), data), data, held_out

    def query_for(self, data: Interactions, user: int) -> Query:
        return Query(user_id=user, history=data.history(int(data.user_index([user])[0])))

    def test_scores_one_float_per_item(self, trained: Any) -> None:
        model, data, _ = trained
        scores = model.score(self.query_for(data, 1), data.item_ids)
        assert scores.shape == data.item_ids.shape
        assert scores.dtype == np.float32
        assert np.isfinite(scores).all(), "a trained model scores every known item"

    def test_unknown_items_score_nan(self, trained: Any) -> None:
        model, data, _ = trained
        items = np.array([data.item_ids[0], 999_999], dtype=np.int64)
        scores = model.score(self.query_for(data, 1), items)
        assert np.isfinite(scores[0])
        assert np.isnan(scores[1])

    def test_answers_unknown_and_anonymous_users(self, trained: Any) -> None:
        model, data, _ = trained
        newcomer = Query(user_id=424_242, history=np.array([100, 101], dtype=np.int64))
        anonymous = Query()
        for query in (newcomer, anonymous):
            scores = model.score(query, data.item_ids)
            assert scores.shape == data.item_ids.shape
            assert not np.isinf(scores).any()

    def test_empty_candidate_list(self, trained: Any) -> None:
        model, data, _ = trained
        assert model.score(self.query_for(data, 1), np.empty(0, dtype=np.int64)).shape == (0,)

    def test_batch_matches_single(self, trained: Any) -> None:
        model, data, _ = trained
        queries = [self.query_for(data, u) for u in (1, 2, GROUP_SIZE + 1)]
        batch = model.score_batch(queries, data.item_ids)
        for row, query in enumerate(queries):
            single = model.score(query, data.item_ids)
            if self.personalised:
                np.testing.assert_allclose(batch[row], single, rtol=1e-4, atol=1e-5)
            else:
                assert batch[row].shape == single.shape

    def test_artifact_round_trip(self, trained: Any) -> None:
        model, data, _ = trained
        restored = type(model).from_artifact(Artifact.from_bytes(model.to_artifact().to_bytes()))
        query = self.query_for(data, 1)
        if self.personalised:
            np.testing.assert_allclose(
                restored.score(query, data.item_ids), model.score(query, data.item_ids), rtol=1e-5
            )
        else:
            assert restored.score(query, data.item_ids).shape == data.item_ids.shape

    def test_deterministic_under_seed(self) -> None:
        data, _ = checkerboard()
        first, second = self.fit(data, seed=7), self.fit(data, seed=7)
        query = self.query_for(data, 3)
        np.testing.assert_allclose(
            first.score(query, data.item_ids), second.score(query, data.item_ids), rtol=1e-5
        )

    def test_refit_does_not_remember_earlier_data(self) -> None:
        data, _ = checkerboard(seed=0)
        other, _ = checkerboard(seed=1)
        engine = engine_class(self.engine_name)(self.params)
        engine.fit(data, TrainingOptions(seed=3))
        refit = engine.fit(other, TrainingOptions(seed=3))
        fresh = engine_class(self.engine_name)(self.params).fit(other, TrainingOptions(seed=3))
        query = self.query_for(other, 2)
        np.testing.assert_allclose(
            refit.score(query, other.item_ids), fresh.score(query, other.item_ids), rtol=1e-5
        )


class PersonalisedEngineContract(EngineContract):
    """The contract plus what an engine that learns from co-occurrence must get right."""

    def test_ranks_held_out_item_above_other_block(self, trained: Any) -> None:
        model, data, held_out = trained
        wins = 0
        for user, item in held_out.items():
            scores = model.score(self.query_for(data, user), data.item_ids)
            block = 0 if item < 100 + ITEMS_PER_GROUP else 1
            other = np.arange(ITEMS_PER_GROUP) + 100 + (1 - block) * ITEMS_PER_GROUP
            target = scores[data.item_index([item])[0]]
            wins += int(target > np.max(scores[data.item_index(other)]))
        assert wins >= 0.9 * len(held_out)
