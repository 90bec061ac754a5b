"""Impressions stored in a group get ids in the group's order, each naming its own row,
whoever else writes them: one at a time, other groups, or several writers at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from recommender.activity import impressions
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
