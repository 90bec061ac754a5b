"""The contract every engine honours, checked by subclassing `EngineContract` in its test module
(`test_catalogue.py` fails for a registered engine without one)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from recommender.arrays import FloatArray
from recommender.engines import engine_class
from recommender.engines.base import Artifact, Engine, Explanation, Model, Query, TrainingOptions
from recommender.interactions import Interactions

GROUP_SIZE = 12
ITEMS_PER_GROUP = 6
ITEM_IDS = np.arange(100, 100 + 2 * ITEMS_PER_GROUP)
UNKNOWN_ITEM = 999_999


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
        users, items, timestamps=np.arange(len(users), dtype=float), item_ids=ITEM_IDS
    )
    return data, held_out


def nobody_used_anything() -> Interactions:
    """A catalogue without a single use: what a fresh installation trains on."""
    empty = np.empty(0, dtype=np.int64)
    return Interactions.from_events(empty, empty, item_ids=ITEM_IDS)


class NumberedNames:
    """Names for every id an explanation may mention."""

    def service(self, service_id: int) -> str | None:
        return f"service {service_id}"

    def scientific_domain(self, domain_id: int) -> str | None:
        return f"domain {domain_id}"

    def category(self, category_id: int) -> str | None:
        return f"category {category_id}"


def assert_same_scores(got: FloatArray, expected: FloatArray) -> None:
    """Equal scores, and scores at all: NaN where a score is due never counts as equal."""
    assert np.isfinite(expected).all(), "a trained model scores every known item"
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, equal_nan=False)


class EngineContract:
    """Subclass with `engine_name` (and `params` to keep training small) to check an engine."""

    engine_name: ClassVar[str]
    params: ClassVar[dict[str, Any]] = {}
    # Whether the engine learns per-user preferences (popularity and random do not): one that
    # does cannot personalise for a query that says nothing about the person.
    personalised: ClassVar[bool] = True
    # Whether a query gets the same scores every time it is asked (random shuffles anew for
    # every request, from a stream that a seed makes the same from run to run).
    repeatable: ClassVar[bool] = True

    def engine(self) -> Engine[Any]:
        return engine_class(self.engine_name)(self.params)

    def fit(self, data: Interactions, seed: int = 0) -> Model:
        return self.engine().fit(data, TrainingOptions(seed=seed))

    def fit_checkerboard(self) -> tuple[Model, Interactions, dict[int, int]]:
        data, held_out = checkerboard()
        return self.fit(data), data, held_out

    @pytest.fixture(scope="class")
    @classmethod
    def trained(cls) -> tuple[Model, Interactions, dict[int, int]]:
        return cls().fit_checkerboard()

    def query_for(self, data: Interactions, user: int) -> Query:
        return Query(user_id=user, history=data.history(int(data.user_index([user])[0])))

    def test_scores_one_float_per_item(self, trained: Any) -> None:
        model, data, _ = trained
        scores = model.score(self.query_for(data, 1), data.item_ids)
        assert scores.shape == data.item_ids.shape
        assert scores.dtype == np.float32
        assert np.isfinite(scores).all(), "a trained model scores every known item"
        assert np.ptp(scores) > 0, "every item scored alike ranks nothing"

    def test_unknown_items_score_nan(self, trained: Any) -> None:
        model, data, _ = trained
        items = np.array([data.item_ids[0], UNKNOWN_ITEM], dtype=np.int64)
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
            assert np.isfinite(scores).all(), query

    def test_empty_candidate_list(self, trained: Any) -> None:
        model, data, _ = trained
        assert model.score(self.query_for(data, 1), np.empty(0, dtype=np.int64)).shape == (0,)

    def test_batch_matches_single(self, trained: Any) -> None:
        model, data, _ = trained
        queries = [self.query_for(data, u) for u in (1, 2, GROUP_SIZE + 1)]
        batch = model.score_batch(queries, data.item_ids)
        assert batch.shape == (len(queries), data.item_ids.shape[0])
        if not self.repeatable:
            assert np.isfinite(batch).all()
            assert len({row.tobytes() for row in batch}) == len(queries), "one draw per query"
            return
        for row, query in enumerate(queries):
            assert_same_scores(batch[row], model.score(query, data.item_ids))

    def test_whole_catalogue_scores_match_single(self, trained: Any) -> None:
        """What serving ranks from (`score_all`, `ordering`) agrees with `score`."""
        model, data, _ = trained
        if not self.repeatable:
            return
        for query in (self.query_for(data, 1), Query()):
            every = model.score_all(query)
            if every is not None:
                ids, scores = every
                assert_same_scores(scores, model.score(query, ids))
            ordered = model.ordering(query)
            if ordered is not None:
                ids, scores = ordered
                assert_same_scores(scores, model.score(query, ids))
                assert (np.diff(scores) <= 0).all(), "best first"

    def test_artifact_round_trip(self, trained: Any) -> None:
        model, data, _ = trained
        query = self.query_for(data, 1)

        def restored() -> Model:
            return type(model).from_artifact(Artifact.from_bytes(model.to_artifact().to_bytes()))

        # A model that draws anew for every request starts its draws again when restored.
        expected = (model if self.repeatable else restored()).score(query, data.item_ids)
        assert_same_scores(restored().score(query, data.item_ids), expected)

    def test_deterministic_under_seed(self) -> None:
        data, _ = checkerboard()
        first, second = self.fit(data, seed=7), self.fit(data, seed=7)
        query = self.query_for(data, 3)
        assert_same_scores(first.score(query, data.item_ids), second.score(query, data.item_ids))

    def test_refit_does_not_remember_earlier_data(self) -> None:
        data, _ = checkerboard(seed=0)
        other, _ = checkerboard(seed=1)
        engine = self.engine()
        engine.fit(data, TrainingOptions(seed=3))
        refit = engine.fit(other, TrainingOptions(seed=3))
        fresh = self.engine().fit(other, TrainingOptions(seed=3))
        query = self.query_for(other, 2)
        assert_same_scores(refit.score(query, other.item_ids), fresh.score(query, other.item_ids))

    def test_knows_who_it_can_personalise_for(self, trained: Any) -> None:
        model, data, _ = trained
        assert model.knows(self.query_for(data, 1)) is True
        # Serving falls back to popularity for a query the model does not know.
        assert model.knows(Query()) is (not self.personalised)

    def test_explains_every_item_it_is_asked_about(self, trained: Any) -> None:
        model, data, _ = trained
        query = self.query_for(data, 1)
        items = np.array([*data.item_ids[:3], UNKNOWN_ITEM], dtype=np.int64)
        explanations = model.explain(query, items, NumberedNames())
        assert len(explanations) == items.shape[0]
        for explanation in explanations:
            assert isinstance(explanation, Explanation)
            assert explanation.short.strip() and explanation.long.strip()
        assert model.explain(query, np.empty(0, dtype=np.int64), NumberedNames()) == []

    def test_fits_a_catalogue_nobody_used(self) -> None:
        model = self.fit(nobody_used_anything())
        items = np.array([*ITEM_IDS, UNKNOWN_ITEM], dtype=np.int64)
        for query in (Query(), Query(user_id=1, history=ITEM_IDS[:2])):
            scores = model.score(query, items)
            assert scores.shape == items.shape
            assert np.isfinite(scores[:-1]).all(), "every catalogue item is scored"
            assert np.isnan(scores[-1])
        assert model.knows(Query(user_id=1)) is (not self.personalised)


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
