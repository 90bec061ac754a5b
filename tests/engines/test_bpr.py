from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from recommender.engines.base import Query
from recommender.engines.bpr import BPREngine
from tests.engines.contract import PersonalisedEngineContract, checkerboard

SMALL: dict[str, Any] = {
    "factors": 8,
    "epochs": 150,
    "learning_rate": 0.05,
    "batch_size": 32,
    "init_std": 0.1,
}


class TestBPRContract(PersonalisedEngineContract):
    engine_name = "bpr"
    params: ClassVar[dict[str, Any]] = SMALL


def test_newcomers_are_scored_from_their_history() -> None:
    data, _ = checkerboard()
    model = BPREngine(SMALL).fit(data)
    first_block = np.arange(100, 106)
    scores = model.score(Query(history=np.array([100, 101])), data.item_ids)
    inside = scores[data.item_index(first_block[2:])]
    outside = scores[data.item_index(np.arange(106, 112))]
    assert inside.mean() > outside.mean()
