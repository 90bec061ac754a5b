"""CPU the event loop spends handing a write to the store writer and getting its result back.

    .venv/bin/python -m benchmarks.writer_handoff
    .venv/bin/python -m benchmarks.writer_handoff --in-flight 50 --writes 20000 --rounds 5

A request's impression is committed by the writer's thread while the request waits on the
event loop. `--in-flight` coroutines each await one write after another, alternately through
a thread's future wrapped for the loop (`asyncio.wrap_future(writer.submit_item(...))`, as the
routes did) and through a future of the loop itself (`writer.submit_item_async`, as they do).
The write stores nothing (its statement is left out) so that only the hand-over is measured.
Prints, per way, the median over `--rounds` of the event loop's thread CPU time per write
and of the writes per second.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import Connection

from recommender.store.database import Database
from recommender.store.writer import Writer


def numbered(conn: Connection, items: list[int]) -> list[int]:
    """A write of nothing: each item's result is the item."""
    return items


Submit = Callable[[Writer, int], Awaitable[int]]


def wrapped(writer: Writer, item: int) -> Awaitable[int]:
    return asyncio.wrap_future(writer.submit_item(numbered, item))


def on_the_loop(writer: Writer, item: int) -> Awaitable[int]:
    return writer.submit_item_async(numbered, item)


async def drive(writer: Writer, submit: Submit, in_flight: int, writes: int) -> tuple[float, float]:
    """(loop thread CPU us per write, writes per second) of `writes` writes."""
    per_coroutine = writes // in_flight

    async def one(first: int) -> None:
        for item in range(first, first + per_coroutine):
            if await submit(writer, item) != item:
                raise AssertionError("a write came back with another's result")

    cpu, wall = time.thread_time(), time.perf_counter()
    await asyncio.gather(*(one(c * per_coroutine) for c in range(in_flight)))
    done = per_coroutine * in_flight
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    return cpu / done * 1e6, done / wall


async def compare(args: argparse.Namespace) -> None:
    db = Database(f"sqlite:///{tempfile.mkdtemp()}/handoff.db")
    writer = Writer(db)
    writer.start()
    ways: dict[str, Submit] = {
        "wrap_future(submit_item)": wrapped,
        "submit_item_async": on_the_loop,
    }
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    rate: dict[str, list[float]] = {name: [] for name in ways}
    try:
        await drive(writer, on_the_loop, args.in_flight, args.writes // 10)  # warm up
        for _ in range(args.rounds):
            for name, submit in ways.items():
                us, per_s = await drive(writer, submit, args.in_flight, args.writes)
                cpu[name].append(us)
                rate[name].append(per_s)
    finally:
        writer.stop()
        db.dispose()
    for name in ways:
        print(
            f"{name:26} {args.in_flight} in flight: median {statistics.median(cpu[name]):.1f} us "
            f"of the loop's CPU per write, {statistics.median(rate[name]):,.0f} writes/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--writes", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(compare(parser.parse_args()))


if __name__ == "__main__":
    main()
