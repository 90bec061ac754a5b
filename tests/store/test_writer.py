from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Connection, func, select, text

from recommender.store import state
from recommender.store.database import Database
from recommender.store.schema import StateEntry
from recommender.store.writer import Writer, WriterStoppedError


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
