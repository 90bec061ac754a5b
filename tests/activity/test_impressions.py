"""Impressions stored in a group get ids in the group's order, each naming its own row,
whoever else writes them: one at a time, other groups, or several writers at once; a group's
rows read back as one stored alone does."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from recommender.activity import impressions
from recommender.store import bulk
from recommender.store.database import Database
from recommender.store.schema import Recommendation
from tests.factories import impression


def _visits(db: Database) -> dict[int, str | None]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(Recommendation.id, Recommendation.visit_id))
        return {int(i): visit for i, visit in rows}


def test_a_group_gets_ascending_ids_that_name_its_own_rows(db: Database) -> None:
    with db.write() as conn:
        first = impressions.write_many(conn, [impression(visit_id=f"a{i}") for i in range(3)])
        alone = impressions.write(conn, impression(visit_id="b"))
        second = impressions.write_many(conn, [impression(visit_id=f"c{i}") for i in range(40)])

    assert first == sorted(first)
    assert second == sorted(second)
    assert first[-1] < alone < second[0]
    stored = _visits(db)
    assert len(stored) == 44
    assert [stored[i] for i in first] == ["a0", "a1", "a2"]
    assert stored[alone] == "b"
    assert [stored[i] for i in second] == [f"c{i}" for i in range(40)]


def test_a_group_larger_than_one_statement_holds_is_stored_whole_and_in_order(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "MAX_ROWS_A_STATEMENT", 7)
    with db.write() as conn:
        ids = impressions.write_many(conn, [impression(visit_id=f"v{i}") for i in range(40)])
    stored = _visits(db)
    assert len(stored) == 40
    assert [stored[i] for i in ids] == [f"v{i}" for i in range(40)]


def test_groups_written_at_once_from_several_threads_lose_and_mix_nothing(db: Database) -> None:
    def group(writer: int) -> list[tuple[int, str]]:
        names = [f"w{writer}-{i}" for i in range(25)]
        with db.write() as conn:
            ids = impressions.write_many(conn, [impression(visit_id=name) for name in names])
        return list(zip(ids, names, strict=True))

    with ThreadPoolExecutor(4) as pool:
        written = [pair for pairs in pool.map(group, range(8)) for pair in pairs]

    stored = _visits(db)
    assert len(stored) == 200
    assert all(stored[i] == name for i, name in written)


def _stored(db: Database, recommendation_id: int) -> dict[str, object]:
    with db.engine.connect() as conn:
        row = conn.execute(select(Recommendation).where(Recommendation.id == recommendation_id))
        stored = dict(row.one()._mapping)
    del stored["id"], stored["created_at"]
    return stored


def test_a_group_s_rows_read_back_as_a_row_stored_alone_does(db: Database) -> None:
    awkward = 'tab\there, new\nline, back\\slash, quote" and \u00e9t\u00e9 \U0001f600'
    shown = [
        impression(
            requested_at=datetime(2026, 12, 7, 20, 30, tzinfo=timezone(timedelta(hours=2))),
            visit_id=awkward,
            page_id="/services?q=a|b",
            user_id=7,
            aai_uid="someone@example.org",
            engine_requested="ncf",
            model_version=4,
            search_data={"q": awkward, "categories": [1, 2], "nested": {"deep": None}},
            candidates=[3, 1, 2],
            service_ids=[3, 1],
            scores=[0.5, 1e-9],
            explanations=[awkward, ""],
            experiment_id=2,
            arm="b",
            propensity=0.25,
            context={"allowed": [1, 2, 3], "history": []},
        ),
        impression(requested_at=datetime(2026, 12, 7, 18, 30)),  # naive: taken as UTC
    ]
    with db.write() as conn:
        grouped = impressions.write_many(conn, shown)
        alone = [impressions.write(conn, each) for each in shown]

    for in_group, by_itself in zip(grouped, alone, strict=True):
        assert _stored(db, in_group) == _stored(db, by_itself)
    first = _stored(db, grouped[0])
    assert first["visit_id"] == awkward
    assert first["search_data"] == {"q": awkward, "categories": [1, 2], "nested": {"deep": None}}
    assert first["requested_at"] == datetime(2026, 12, 7, 18, 30, tzinfo=UTC)
    assert first["scores"] == [0.5, 1e-9]
    assert _stored(db, grouped[1])["requested_at"] == datetime(2026, 12, 7, 18, 30, tzinfo=UTC)
    # A missing context is stored alike either way, so a query for one finds both.
    assert _without_context(db, grouped) == _without_context(db, alone)


def _without_context(db: Database, ids: list[int]) -> int:
    with db.engine.connect() as conn:
        query = select(func.count()).where(
            Recommendation.id.in_(ids), Recommendation.context.is_(None)
        )
        return int(conn.execute(query).scalar_one())
