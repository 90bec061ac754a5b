"""Engines trained on a synthetic marketplace through a store, by their registry names."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engines import UnknownEngineError, engine_names
from recommender.engines.base import Query
from recommender.interactions import Interactions
from recommender.simulation import fit_engine
from recommender.synthetic import SyntheticMarketplace


def test_the_store_s_training_data_holds_the_dump_and_the_logged_clicks(
    market: SyntheticMarketplace, data: Interactions
) -> None:
    users = market.dump["users"]
    assert data.user_ids.tolist() == [u["id"] for u in users]
    assert data.item_ids.tolist() == [s["id"] for s in market.dump["services"]]
    for user in users[:40]:
        row = data.user_index([user["id"]])[0]
        used = set(data.item_ids[data.matrix[row].indices].tolist())
        assert set(user["accessed_services"]) <= used
    accessed = sum(len(u["accessed_services"]) for u in users)
    assert data.events is not None and len(data.events) > accessed


@pytest.mark.parametrize("name", engine_names())
def test_every_registered_engine_trains_and_scores(
    name: str, market: SyntheticMarketplace, data: Interactions
) -> None:
    model = fit_engine(name, data, seed=1)
    user = next(u for u in market.dump["users"] if u["accessed_services"])
    query = Query(user_id=user["id"], history=np.asarray(user["accessed_services"]))
    scores = model.score(query, data.item_ids[:10])
    assert scores.shape == (10,)
    assert np.isfinite(scores).any()


def test_an_unknown_engine_is_a_clear_error(data: Interactions) -> None:
    with pytest.raises(UnknownEngineError, match=r"unknown engine 'nope'; known engines: .*ease"):
        fit_engine("nope", data)
