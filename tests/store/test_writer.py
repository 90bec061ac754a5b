from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from sqlalchemy import Connection, func, select, text
from sqlalchemy.engine import make_url

from recommender.activity import impressions
from recommender.store import state
from recommender.store import writer as writer_module
from recommender.store.database import Database
from recommender.store.schema import Recommendation, StateEntry
from recommender.store.writer import Writer, WriterStoppedError
from tests.conftest import PostgresServer
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


def test_coroutines_each_get_their_own_impression_id_from_the_loop_s_futures(
    db: Database,
) -> None:
    """Many coroutines of two event loops wait on shared batches: each gets its own row."""
    writer = Writer(db)
    writer.start()
    shown = [impression(visit_id=f"visit-{i}") for i in range(400)]

    async def store_all(part: list[impressions.Impression]) -> list[int]:
        futures = [writer.submit_item_async(impressions.write_many, one) for one in part]
        return list(await asyncio.gather(*futures))

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            halves = list(
                pool.map(lambda part: asyncio.run(store_all(part)), (shown[::2], shown[1::2]))
            )
    finally:
        writer.stop()
    ids = [i for pair in zip(*halves, strict=True) for i in pair]
    assert len(set(ids)) == len(shown)
    with db.engine.connect() as conn:
        stored = dict(conn.execute(select(Recommendation.id, Recommendation.visit_id)).all())
    assert all(stored[i] == one.visit_id for i, one in zip(ids, shown, strict=True))


def test_a_failing_write_fails_only_its_own_coroutine(db: Database) -> None:
    writer = Writer(db)
    writer.start()

    def store(conn: Connection, names: list[str]) -> list[int]:
        if "bad" in names:
            raise ValueError("a bad item")
        return [state.put(conn, name, "1") for name in names]

    async def store_three() -> list[int | BaseException]:
        futures = [writer.submit_item_async(store, name) for name in ("a", "bad", "b")]
        return await asyncio.gather(*futures, return_exceptions=True)

    try:
        first, bad, last = asyncio.run(store_three())
    finally:
        writer.stop()
    assert (first, last) == (1, 1)
    assert isinstance(bad, ValueError)


def test_a_coroutine_that_stopped_waiting_costs_the_others_nothing(db: Database) -> None:
    """A request cancelled while its write is queued: the write is still committed, and the
    writer goes on serving the next ones."""
    writer = Writer(db)
    writer.start()
    entered = threading.Event()
    release = threading.Event()

    def slow(conn: Connection, names: list[str]) -> list[int]:
        entered.set()
        release.wait(timeout=10)
        return [state.put(conn, name, "1") for name in names]

    async def cancel_one() -> int:
        first = writer.submit_item_async(slow, "first")
        await asyncio.to_thread(entered.wait, 10)
        # Queued while the writer is busy, these two share its next batch.
        gone = writer.submit_item_async(slow, "gone")
        kept = writer.submit_item_async(slow, "kept")
        gone.cancel()
        release.set()
        await first
        return await asyncio.wait_for(kept, timeout=10)

    try:
        assert asyncio.run(cancel_one()) == 1
    finally:
        writer.stop()
    with db.engine.connect() as conn:
        assert state.read(conn, "gone") is not None


def test_a_stopped_writer_refuses_a_coroutine_s_work(db: Database) -> None:
    writer = Writer(db)

    async def submit() -> None:
        await writer.submit_item_async(impressions.write_many, impression())

    with pytest.raises(WriterStoppedError):
        asyncio.run(submit())


class Arrivals:
    """Stands in for the writer's sleep: each step, `per_step` more items are handed over,
    as the event loop would while the writer waits."""

    def __init__(self, writer_of: list[Writer], batches: list[list[int]], per_step: list[int]):
        self.writer_of = writer_of
        self.batches = batches
        self.per_step = per_step
        self.steps = 0
        self.futures: list[Future[int]] = []

    def __call__(self, seconds: float) -> None:
        coming = self.per_step[self.steps] if self.steps < len(self.per_step) else 0
        self.steps += 1
        for _ in range(coming):
            item = 101 + len(self.futures)
            self.futures.append(self.writer_of[0].submit_item(self.store, item))

    def store(self, conn: Connection, items: list[int]) -> list[int]:
        self.batches.append(items)
        return items


def busy_writer(writer: Writer, arrivals: Arrivals) -> None:
    """Start `writer` and have it commit items 1 and 2 in one batch."""
    gate = threading.Event()
    writer.start()
    held = writer.submit(lambda conn: gate.wait(10))
    first = [writer.submit_item(arrivals.store, i) for i in (1, 2)]
    gate.set()
    held.result(timeout=10)
    assert [f.result(timeout=10) for f in first] == [1, 2]


def lingering_writer(
    db: Database, per_step: list[int], max_linger_s: float = 0.01
) -> tuple[Writer, Arrivals]:
    writers: list[Writer] = []
    arrivals = Arrivals(writers, [], per_step)
    writer = Writer(db, linger_step_s=0.001, max_linger_s=max_linger_s, sleep=arrivals)
    writers.append(writer)
    return writer, arrivals


def test_under_load_the_writer_waits_for_what_keeps_coming(db: Database) -> None:
    writer, arrivals = lingering_writer(db, per_step=[2, 1])
    try:
        busy_writer(writer, arrivals)
        # The last batch held two items: the next one waits while more come, then stops
        # at the first quiet step.
        third = writer.submit_item(arrivals.store, 3)
        assert third.result(timeout=10) == 3
        for future in arrivals.futures:
            future.result(timeout=10)
    finally:
        writer.stop()
    assert arrivals.steps == 3
    assert arrivals.batches == [[1, 2], [3, 101, 102, 103]]


def test_a_quiet_writer_takes_each_job_at_once(db: Database) -> None:
    writer, arrivals = lingering_writer(db, per_step=[5])
    writer.start()
    try:
        for i in range(3):
            assert writer.submit_item(arrivals.store, i).result(timeout=10) == i
    finally:
        writer.stop()
    assert arrivals.steps == 0
    assert arrivals.batches == [[0], [1], [2]]


def test_the_writer_waits_no_longer_than_its_limit(db: Database) -> None:
    writer, arrivals = lingering_writer(db, per_step=[1] * 100, max_linger_s=0.003)
    try:
        busy_writer(writer, arrivals)
        writer.submit_item(arrivals.store, 3).result(timeout=10)
    finally:
        writer.stop()
    assert arrivals.steps == 3
    assert arrivals.batches[1] == [3, 101, 102, 103]


def test_the_connection_of_the_last_batch_serves_the_next_one(db: Database) -> None:
    writer = Writer(db)
    writer.start()
    try:
        first = writer.run(lambda c: c.connection.dbapi_connection)
        assert writer.run(lambda c: c.connection.dbapi_connection) is first
    finally:
        writer.stop()


@pytest.fixture
def postgres_db(postgres_server: PostgresServer) -> Iterator[Database]:
    url = postgres_server.new_database()
    database = Database(url, pool_size=2)
    yield database
    database.dispose()
    postgres_server.drop(make_url(url).database or "")


@pytest.mark.postgres
def test_a_database_restart_while_the_writer_was_idle_loses_no_write(
    postgres_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "HOLD_S", 0.05)
    writer = Writer(postgres_db)
    writer.start()
    try:
        assert writer.run(lambda c: state.put(c, "before", "1")) == 1
        # What a restart does to every connection the writer holds or the pool keeps.
        with postgres_db.engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        time.sleep(0.1)
        assert writer.run(lambda c: state.put(c, "after", "1")) == 1
    finally:
        writer.stop()
