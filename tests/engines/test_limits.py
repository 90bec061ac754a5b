from __future__ import annotations

import pytest

from recommender.engines import engine_class, engine_names
from recommender.engines.limits import EngineLimitError, EngineLimits


def test_data_within_the_limits_is_accepted() -> None:
    limits = EngineLimits(max_items=10, max_users=5)
    assert limits.refusal("x", 5, 10) is None
    limits.check("x", 5, 10)


def test_a_refusal_names_the_engine_the_limit_and_the_size() -> None:
    limits = EngineLimits(max_users=5, reason="it keeps every user in memory")
    with pytest.raises(EngineLimitError, match="x is limited to 5 users and the data has 6") as e:
        limits.check("x", 6, 1)
    assert e.value.engine == "x" and "it keeps every user in memory" in str(e.value)


def test_memory_adds_users_items_and_item_pairs() -> None:
    limits = EngineLimits(bytes_per_user=2, bytes_per_item=3, bytes_per_item_pair=4)
    assert limits.memory_bytes(10, 5) == 2 * 10 + 3 * 5 + 4 * 25


def test_an_operator_limit_replaces_the_declared_one() -> None:
    for name in engine_names():
        engine = engine_class(name)(max_items=7)
        assert engine.limits().max_items == 7
        assert engine.limits().refusal(name, 1, 8) is not None


@pytest.mark.parametrize("name", ["ials", "bpr", "itemknn"])
def test_vector_engines_grow_linearly(name: str) -> None:
    limits = engine_class(name)().limits()
    assert limits.max_items is None and limits.bytes_per_item_pair == 0
    assert limits.memory_bytes(2_000, 2_000) == pytest.approx(2 * limits.memory_bytes(1_000, 1_000))
