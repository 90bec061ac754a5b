from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Connection, func, select, text

from recommender.activity import impressions
from recommender.store import state
from recommender.store.database import Database
from recommender.store.schema import Recommendation, StateEntry
from recommender.store.writer import Writer, WriterStoppedError
from tests.factories import impression


def test_concurrent_writes_are_all_committed(db: Database) -> None:
    writer = Writer(db)
    writer.start()
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            versions = list(
                pool.map(
                    lambda i: writer.run(lambda c: state.put(c, f"k{i % 4}", str(i))), range(200)
                )
            )
    finally:
        writer.stop()
    assert len(versions) == 200
    with db.engine.connect() as conn:
        assert conn.execute(select(func.sum(StateEntry.version))).scalar_one() == 200


def test_one_failing_write_does_not_sink_the_others(db: Database) -> None:
    writer = Writer(db)
    writer.start()

    def broken(conn: Connection) -> None:
        conn.execute(text("INSERT INTO no_such_table VALUES (1)"))

    try:
        bad = writer.submit(broken)
        good = writer.submit(lambda c: state.put(c, "ok", "1"))
        assert good.result(timeout=10) == 1
        with pytest.raises(Exception, match="no_such_table"):
            bad.result(timeout=10)
    finally:
        writer.stop()
    with db.engine.connect() as conn:
        assert state.read(conn, "ok") is not None


def test_a_stopped_writer_refuses_work(db: Database) -> None:
    writer = Writer(db)
    with pytest.raises(WriterStoppedError):
        writer.run(lambda c: None)


def test_an_unreachable_database_fails_every_write() -> None:
    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_size=1)
    writer = Writer(db)
    writer.start()
    try:
        with pytest.raises(Exception, match=r"127\.0\.0\.1"):
            writer.run(lambda c: state.put(c, "x", "y"), timeout=30)
    finally:
        writer.stop()
        db.dispose()


def test_impressions_sent_together_are_each_committed_with_their_own_id(db: Database) -> None:
    """Group commit: many requests wait on one transaction, each gets its row's id."""
    writer = Writer(db)
    writer.start()
    shown = [impression(visit_id=f"visit-{i}") for i in range(300)]
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = list(
                pool.map(lambda one: writer.submit_item(impressions.write_many, one), shown)
            )
            ids = [future.result(timeout=30) for future in futures]
    finally:
        writer.stop()
    assert len(set(ids)) == len(shown)
    with db.engine.connect() as conn:
        stored = dict(conn.execute(select(Recommendation.id, Recommendation.visit_id)).all())
    assert {stored[i] for i in ids} == {one.visit_id for one in shown}
    assert all(stored[i] == one.visit_id for i, one in zip(ids, shown, strict=True))


def test_a_failing_shared_write_does_not_sink_the_others(db: Database) -> None:
    writer = Writer(db)
    writer.start()

    def store(conn: Connection, names: list[str]) -> list[int]:
        if "bad" in names and len(names) > 1:
            raise ValueError("one bad item")
        if names == ["bad"]:
            raise ValueError("the bad item")
        return [state.put(conn, name, "1") for name in names]

    try:
        futures = [writer.submit_item(store, name) for name in ("a", "bad", "b")]
        assert futures[0].result(timeout=10) == 1
        assert futures[2].result(timeout=10) == 1
        with pytest.raises(ValueError, match="the bad item"):
            futures[1].result(timeout=10)
    finally:
        writer.stop()
