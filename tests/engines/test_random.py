from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from recommender.engines.base import Query
from recommender.engines.random import RandomEngine
from recommender.interactions import Interactions
from tests.engines.contract import EngineContract


class TestRandomContract(EngineContract):
    engine_name = "random"
    params: ClassVar[dict[str, Any]] = {"seed": 1}
    personalised = False


def test_unseeded_lists_vary() -> None:
    model = RandomEngine().fit(Interactions.from_events([1], [1]))
    items = np.arange(1000, dtype=np.int64)
    assert not np.array_equal(model.score(Query(), items), model.score(Query(), items))
