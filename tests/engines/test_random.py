from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from recommender.engines.base import Model, Query, TrainingOptions
from recommender.engines.random import RandomEngine
from recommender.interactions import Interactions
from tests.engines.contract import EngineContract


class TestRandomContract(EngineContract):
    engine_name = "random"
    params: ClassVar[dict[str, Any]] = {"seed": 1}
    personalised = False
    repeatable = False


def test_unseeded_lists_vary() -> None:
    model = RandomEngine().fit(Interactions.from_events([1], [1]))
    items = np.arange(1000, dtype=np.int64)
    assert not np.array_equal(model.score(Query(), items), model.score(Query(), items))


def test_every_request_is_shuffled_anew_and_a_seed_repeats_the_sequence() -> None:
    data = Interactions.from_events([1], [1], item_ids=np.arange(50, dtype=np.int64))
    items = data.item_ids

    def orders(model: Model) -> list[list[int]]:
        return [np.argsort(model.score(Query(), items)).tolist() for _ in range(4)]

    seen = orders(RandomEngine({"seed": 4}).fit(data))
    assert len({tuple(order) for order in seen}) == 4
    assert orders(RandomEngine({"seed": 4}).fit(data)) == seen
    # Fitted with training options, the training seed seeds the sequence.
    trained = orders(RandomEngine().fit(data, TrainingOptions(seed=4)))
    assert trained == seen


def test_each_user_of_a_batch_gets_a_shuffle_of_their_own() -> None:
    data = Interactions.from_events([1], [1], item_ids=np.arange(50, dtype=np.int64))
    model = RandomEngine().fit(data, TrainingOptions(seed=0))
    batch = model.score_batch([Query(user_id=u) for u in range(5)], data.item_ids)
    assert len({tuple(np.argsort(row)) for row in batch}) == 5
