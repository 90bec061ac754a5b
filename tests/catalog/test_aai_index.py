"""The AAI index answers as the dict it replaced: every identity to its user, others absent."""

from __future__ import annotations

import pytest

from recommender.catalog.aai_index import AaiIndex


def test_every_identity_finds_its_user_and_no_other_does() -> None:
    pairs = [(f"user{i}@aai.example.org", i * 7) for i in range(1, 2_000)]
    pairs.append(("ünïcode@aai.example.org", 99_999))
    index = AaiIndex(pairs)

    assert len(index) == len(pairs)
    assert all(index[identity] == user for identity, user in pairs)
    assert dict(index.items()) == dict(pairs)
    assert index.get("nobody@aai.example.org") is None
    assert index.get("user1@aai.example.org ") is None  # a near miss is a miss
    assert index.get("\ud800") is None  # not encodable as UTF-8: absent, no error
    with pytest.raises(KeyError):
        index["user0@aai.example.org"]


def test_an_empty_index_finds_nobody() -> None:
    index = AaiIndex([])
    assert len(index) == 0 and index.get("someone") is None and list(index) == []
