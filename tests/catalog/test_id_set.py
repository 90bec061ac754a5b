from __future__ import annotations

from array import array

import pytest

from recommender.catalog import id_set
from recommender.catalog.id_set import IdSet, repeated


@pytest.mark.parametrize("set_limit", [0, 1_000_000], ids=["searched", "hashed"])
def test_membership_is_that_of_a_set(set_limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(id_set, "SET_LIMIT", set_limit)
    values = [7, 3, 2**63 - 1, 0, 3, 1_000_000_000_000]
    ids = IdSet(array("q", values))
    assert len(ids) == 5
    for probe in [*values, 1, 4, 2**63 - 2, 2**63, -1, 10**30]:
        assert (probe in ids) == (probe in set(values))
    assert 1 not in IdSet()


def test_repeated_values_are_named_once() -> None:
    assert repeated(array("q", [5, 1, 5, 2, 5, 1])) == {1, 5}
    assert repeated(array("q")) == set()
