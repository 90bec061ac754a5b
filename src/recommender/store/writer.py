"""One writer thread per process that commits the service's small writes in groups.

Requests hand their write (a function of a connection) to the writer and wait for it to be
committed. Batching amortises commits, and on SQLite it removes the lock contention between
a process's own writers, whose busy-wait back-off would otherwise dominate latency.

Writes of one kind (impressions, say) can also share one statement: `submit_item(many, item)`
hands over an item, and `many(conn, items)` stores every such item of a batch at once. One
multi-row insert costs the writer thread a tenth of separate inserts, and that thread shares
the interpreter with the event loop that serves requests.

Under load the writer lingers: after a batch of several jobs it waits, a short step at a time,
while the queue keeps growing (at most `max_linger_s`). Taken as soon as the first job came,
a batch held the few requests the loop had finished while the last commit ran, so each
commit's fixed cost was paid again and again and the loop waited for the interpreter. A
writer that had a single job last time takes the next at once: a quiet server adds nothing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection

from recommender.store.database import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
ItemT = TypeVar("ItemT")
MAX_BATCH = 256
# Measured with `benchmarks.serving` (docs/benchmarks.md): steps of 0.3 ms up to 8 ms took
# the most requests per second at 50 in flight without costing 5 in flight.
LINGER_STEP_S = 0.0003
MAX_LINGER_S = 0.008
# A connection that served a batch this recently serves the next one as it is: taken from the
# pool for every batch, it cost PostgreSQL one more round trip per batch (the pool's liveness
# check) before the transaction's own. A connection idle for longer goes back to the pool, and
# the next batch gets one the pool has checked, so a database restarted while the writer was
# quiet costs no write.
HOLD_S = 1.0

# Stores items in one go and returns one result per item, in the same order.
Many = Callable[[Connection, list[ItemT]], list[T]]


class WriterStoppedError(RuntimeError):
    pass


class _Unreachable(Exception):
    """No connection or transaction could be had: nothing of the batch was tried."""


@dataclass(slots=True)
class _Job:
    fn: Callable[[Connection], Any] | None
    # A thread's future, or a future of the event loop `loop` (see `submit_item_async`).
    future: Future[Any] | asyncio.Future[Any]
    many: Many[Any, Any] | None = None
    item: Any = None
    loop: asyncio.AbstractEventLoop | None = None


class Writer:
    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = MAX_BATCH,
        linger_step_s: float = LINGER_STEP_S,
        max_linger_s: float = MAX_LINGER_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = db
        # Only the writer's thread uses it; see `_connection`.
        self._held: Connection | None = None
        self._used_at = -math.inf
        self._max_batch = max_batch
        self._linger_step_s = linger_step_s
        self._max_linger_s = max_linger_s
        self._sleep = sleep
        # SimpleQueue: a put is one C call, where Queue's takes and notifies a Python
        # condition, which cost the event loop handing over each impression 6 % of its time.
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def submit(self, fn: Callable[[Connection], T]) -> Future[T]:
        future: Future[T] = Future()
        if self._thread is None:
            future.set_exception(WriterStoppedError("the store writer is not running"))
            return future
        self._queue.put(_Job(fn, future))
        return future

    def submit_item(self, many: Many[ItemT, T], item: ItemT) -> Future[T]:
        """Store `item` with every other item of the same `many` in the batch; the future
        holds its result once committed."""
        future: Future[T] = Future()
        if self._thread is None:
            future.set_exception(WriterStoppedError("the store writer is not running"))
            return future
        self._queue.put(_Job(None, future, many, item))
        return future

    def submit_item_async(self, many: Many[ItemT, T], item: ItemT) -> asyncio.Future[T]:
        """`submit_item` for a coroutine: the future belongs to the running event loop.

        A thread's future awaited through `asyncio.wrap_future` cost the loop a lock and a
        condition per write, a chain of callbacks and a wake-up of the loop per write; these
        futures are settled together, one wake-up per batch."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._thread is None:
            future.set_exception(WriterStoppedError("the store writer is not running"))
            return future
        self._queue.put(_Job(None, future, many, item, loop))
        return future

    def run(self, fn: Callable[[Connection], T], timeout: float = 60.0) -> T:
        """Run `fn` in the writer's transaction and return its result once committed."""
        return self.submit(fn).result(timeout=timeout)

    def _take_batch(self, busy: bool = False) -> list[_Job] | None:
        first = self._queue.get()
        if first is None:
            return None
        if busy:
            self._linger()
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(job)
        return batch

    def _linger(self) -> None:
        """Wait while more jobs keep coming, for at most `max_linger_s` worth of steps (each
        sleep may overrun its step a little: the limit bounds the steps, not the clock)."""
        waited = 0.0
        queued = self._queue.qsize()
        while waited < self._max_linger_s and queued < self._max_batch:
            self._sleep(self._linger_step_s)
            waited += self._linger_step_s
            now = self._queue.qsize()
            if now == queued:
                return
            queued = now

    def _loop(self) -> None:
        busy = False
        try:
            while True:
                batch = self._take_batch(busy)
                if batch is None:
                    return
                busy = len(batch) > 1
                self._commit(batch)
        finally:
            self._release()

    def _commit(self, batch: list[_Job]) -> None:
        """All jobs in one transaction; if one of them fails, each runs again in its own, so
        one bad write never sinks the others (and nothing is half-written)."""
        try:
            values = self._run_together(batch)
        except _Unreachable as error:
            # The database being away fails every job alike: no point trying one by one.
            self._fail(batch, error.__cause__ or error)
            return
        except Exception as error:
            if len(batch) == 1:
                self._fail(batch, error)
                return
            for job in batch:
                self._commit([job])
            return
        _settle(batch, values, None)

    def _run_together(self, batch: list[_Job]) -> list[Any]:
        conn = self._connection()
        try:
            transaction = conn.begin()
        except Exception as error:
            self._release()
            raise _Unreachable from error
        try:
            with transaction:
                values = self._run_jobs(conn, batch)
        except BaseException:
            self._release()
            raise
        self._used_at = time.monotonic()
        return values

    def _connection(self) -> Connection:
        """The connection of the last batch when it ended less than `HOLD_S` ago, else a
        fresh one from the pool (which checks it still works first)."""
        if self._held is not None and time.monotonic() - self._used_at <= HOLD_S:
            return self._held
        self._release()
        try:
            self._held = self._db.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
        except Exception as error:
            raise _Unreachable from error
        return self._held

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            try:
                held.close()
            except Exception as error:  # a broken connection: the pool discards it
                log.debug("closing the writer's connection: %s", error)

    @staticmethod
    def _run_jobs(conn: Connection, batch: list[_Job]) -> list[Any]:
        values: list[Any] = [None] * len(batch)
        shared: dict[Many[Any, Any], list[int]] = {}
        for index, job in enumerate(batch):
            if job.many is not None:
                shared.setdefault(job.many, []).append(index)
            elif job.fn is not None:
                values[index] = job.fn(conn)
        for many, indices in shared.items():
            results = many(conn, [batch[i].item for i in indices])
            for index, value in zip(indices, results, strict=True):
                values[index] = value
        return values

    @staticmethod
    def _fail(batch: list[_Job], error: BaseException) -> None:
        log.warning("a write failed: %s", error)
        _settle(batch, [None] * len(batch), error)


def _settle(batch: list[_Job], values: list[Any], error: BaseException | None) -> None:
    """Each job's future gets its value, or `error`; the futures of an event loop are
    handed to that loop in one call."""
    on_loops: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any]]] = {}
    for job, value in zip(batch, values, strict=True):
        if job.loop is None:
            _resolve(job.future, value, error)
        else:
            on_loops.setdefault(job.loop, []).append((job.future, value))
    for loop, pending in on_loops.items():
        try:
            loop.call_soon_threadsafe(_resolve_all, pending, error)
        except RuntimeError:  # the loop is closed: nobody awaits these any more
            log.debug("an event loop closed before %d writes were reported", len(pending))


def _resolve(
    future: Future[Any] | asyncio.Future[Any], value: Any, error: BaseException | None
) -> None:
    # A caller that stopped waiting (a cancelled request) leaves its future done.
    if future.done():
        return
    try:
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
    except InvalidStateError:  # a thread's future cancelled since the check above
        pass


def _resolve_all(pending: list[tuple[Any, Any]], error: BaseException | None) -> None:
    """Runs on the futures' event loop."""
    for future, value in pending:
        _resolve(future, value, error)
