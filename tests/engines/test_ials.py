from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from recommender.engines.base import Query
from recommender.engines.ials import IALSEngine
from recommender.interactions import Interactions
from tests.engines.contract import PersonalisedEngineContract, checkerboard

SMALL: dict[str, Any] = {"factors": 2, "regularization": 1.0, "alpha": 5.0, "iterations": 10}


class TestIALSContract(PersonalisedEngineContract):
    engine_name = "ials"
    params: ClassVar[dict[str, Any]] = SMALL


def test_fold_in_agrees_with_the_trained_user_vector() -> None:
    data, _ = checkerboard()
    model = IALSEngine(SMALL).fit(data)
    for user in (1, 5, 20):
        history = data.history(int(data.user_index([user])[0]))
        stored = model.score(Query(user_id=user, history=history), data.item_ids)
        folded = model.score(Query(user_id=None, history=history), data.item_ids)
        assert np.corrcoef(stored, folded)[0, 1] > 0.95


def test_weights_raise_confidence() -> None:
    # Users 1-3 used items 10 and 11 alike, but user 1 used 11 far more often.
    users = [1, 1, 2, 2, 3, 3, 4]
    items = [10, 11, 10, 11, 10, 11, 12]
    light = Interactions.from_events(users, items)
    heavy = Interactions.from_events(users, items, weights=[1, 20, 1, 1, 1, 1, 1])
    params = {"factors": 1, "regularization": 1.0, "iterations": 20}
    query = Query(user_id=1)
    light_scores = IALSEngine(params).fit(light).score(query, np.array([10, 11]))
    heavy_scores = IALSEngine(params).fit(heavy).score(query, np.array([10, 11]))
    assert heavy_scores[1] - heavy_scores[0] > light_scores[1] - light_scores[0]


def test_users_without_training_data_are_folded_in() -> None:
    data = Interactions.from_events([1, 1, 2], [10, 11, 10], user_ids=[1, 2, 3])
    model = IALSEngine(SMALL).fit(data)
    assert 3 not in model.user_ids
    scores = model.score(Query(user_id=3, history=np.array([10])), np.array([10, 11]))
    assert np.isfinite(scores).all()
