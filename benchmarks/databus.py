"""How fast the databus subscriber stores user actions, and how long an action waits.

    python -m benchmarks.databus --database sqlite --messages 20000 --repeats 3
    python -m benchmarks.databus --database postgresql

Needs a STOMP broker (RabbitMQ with its STOMP plugin on 127.0.0.1:61613, guest/guest, as
.ci/run starts it; BENCH_STOMP_HOST and BENCH_STOMP_PORT say otherwise) and, for
`--database postgresql`, the PostgreSQL server of the tests (TEST_POSTGRES_URL).

Ingest: N distinct actions wait in the durable subscription's queue; the subscriber (the code
of `recommender subscribe`, on a thread, with its own store writer) starts, and the rate is N
over the seconds until the last of them is committed and acknowledged, and N over the CPU
seconds the process spent meanwhile (so a figure from a busy machine still says what one
free core does). Lag: a publisher sends
at a steady rate while the subscriber runs; each action's lag runs from its `timestamp` header
(set by the publisher as it sends) to the subscriber's commit. Medians over the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import stomp
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from recommender.config import Settings
from recommender.databus import status
from recommender.databus.subscriber import Subscriber
from recommender.store import migrate
from recommender.store.database import Database
from recommender.store.schema import UserAction
from recommender.store.writer import Writer

HOST = os.environ.get("BENCH_STOMP_HOST", "127.0.0.1")
PORT = int(os.environ.get("BENCH_STOMP_PORT", "61613"))
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def action(number: int) -> bytes:
    """A realistic action: a click on a panel's service, then a page further on."""
    return json.dumps(
        {
            "unique_id": f"browser-{number % 5000}",
            "timestamp": "2026-11-27T10:00:05Z",
            "user_id": number % 3000 if number % 3 else None,
            "client_id": "marketplace",
            "source": {
                "visit_id": f"source-{number}",
                "page_id": "/services",
                "root": {"type": "recommendation_panel", "panel_id": "v1", "service_id": 1},
            },
            "target": {"visit_id": f"visit-{number}", "page_id": f"/services/{number % 400}"},
            "action": {"type": "button", "text": "Details", "order": number % 50 == 0},
        }
    ).encode()


class _Receipts(stomp.ConnectionListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def on_receipt(self, frame: Any) -> None:
        self.seen.add(frame.headers["receipt-id"])


def publish(topic: str, first: int, count: int, per_s: float | None = None) -> None:
    """Persistent messages `first..first+count-1`, paced at `per_s` if given; returns once
    the broker confirmed the last (RabbitMQ confirms in order)."""
    receipts = _Receipts()
    conn = stomp.Connection12([(HOST, PORT)], vhost="/", auto_decode=False)
    conn.set_listener("", receipts)
    conn.connect("guest", "guest", wait=True)
    started = time.perf_counter()
    try:
        for offset in range(count):
            headers = {"persistent": "true", "timestamp": str(int(time.time() * 1000))}
            if offset == count - 1:
                headers["receipt"] = "last"
            conn.send(topic, body=action(first + offset), headers=headers)
            if per_s is not None:
                ahead = started + (offset + 1) / per_s - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
        deadline = time.monotonic() + 120
        while "last" not in receipts.seen:
            if time.monotonic() > deadline:
                raise RuntimeError("the broker did not confirm the messages")
            time.sleep(0.01)
    finally:
        conn.disconnect()


@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'recommender.db'}"
            db = Database(url, pool_size=1)
            migrate.upgrade(db.engine)
            db.dispose()
            yield url
        return
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"recommender_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        db = Database(url, pool_size=1)
        migrate.upgrade(db.engine)
        db.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Running:
    """The subscriber on a thread, until `stop()`."""

    def __init__(self, settings: Settings, lags: list[float] | None = None) -> None:
        self.db = Database(settings.database_url, pool_size=4)
        self.writer = Writer(self.db)
        observe = lags.append if lags is not None else None
        self.subscriber = Subscriber(settings, self.writer, observe_lag=observe)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=self.subscriber.run, args=(self.stop_event,), daemon=True
        )
        self.writer.start()
        self.thread.start()

    def subscribed(self, subscription: str, timeout: float = 60) -> Running:
        deadline = time.monotonic() + timeout
        while True:
            with self.db.engine.connect() as conn:
                row = status.read(conn, subscription)
            if row is not None and row.state == status.SUBSCRIBED:
                return self
            if time.monotonic() > deadline:
                raise RuntimeError("the subscriber did not subscribe")
            time.sleep(0.1)

    def stored(self) -> int:
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(UserAction)).scalar_one())

    def wait_for(self, count: int, timeout: float = 600) -> float:
        deadline = time.monotonic() + timeout
        while self.stored() < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.stored()} of {count} stored")
            time.sleep(0.05)
        return time.perf_counter()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=60)
        self.writer.stop()
        self.db.dispose()


def settings_for(url: str, topic: str, subscription: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=url,
        databus_host=HOST,
        databus_port=PORT,
        databus_username="guest",
        databus_password="guest",
        databus_actions_topic=topic,
        databus_subscription=subscription,
    )


def forget(subscription: str) -> None:
    conn = stomp.Connection12([(HOST, PORT)], vhost="/")
    conn.connect("guest", "guest", wait=True, headers={"client-id": subscription})
    conn.subscribe(
        "/topic/nothing", id=subscription, headers={"durable": "true", "auto-delete": "false"}
    )
    conn.unsubscribe(subscription, headers={"durable": "true"})
    conn.disconnect()


def one_run(kind: str, messages: int, rate: float, seconds: float) -> dict[str, float]:
    tag = uuid.uuid4().hex[:10]
    topic, subscription = f"/topic/user_actions.bench-{tag}", f"bench-{tag}"
    with fresh_database(kind) as url:
        settings = settings_for(url, topic, subscription)
        try:
            # The durable subscription exists (the broker keeps messages for it) with no one on it.
            Running(settings).subscribed(subscription).stop()
            publish(topic, 0, messages)
            started, cpu_started = time.perf_counter(), time.process_time()
            lags: list[float] = []
            running = Running(settings, lags)
            try:
                finished = running.wait_for(messages)
                cpu = time.process_time() - cpu_started
                ingest = messages / (finished - started)
                lags.clear()
                paced = int(rate * seconds)
                publish(topic, messages, paced, per_s=rate)
                running.wait_for(messages + paced)
                time.sleep(0.5)  # the settler counts the last commits
            finally:
                running.stop()
        finally:
            forget(subscription)
    lag = np.asarray(lags)
    return {
        "ingest_per_s": ingest,
        # This process's CPU time (every thread, the database driver's included; the broker's
        # not): what one free core would sustain, whatever else the machine was doing.
        "ingest_per_cpu_s": messages / cpu,
        "lag_p50_ms": float(np.percentile(lag, 50)) * 1000,
        "lag_p99_ms": float(np.percentile(lag, 99)) * 1000,
        "lag_max_ms": float(lag.max()) * 1000,
        "lag_samples": float(lag.size),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--messages", type=int, default=20_000, help="backlog to ingest")
    parser.add_argument("--rate", type=float, default=500.0, help="paced messages per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the paced run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = [
        one_run(args.database, args.messages, args.rate, args.seconds) for _ in range(args.repeats)
    ]
    print(
        f"databus ingest ({args.database}, {args.messages} queued actions, "
        f"{args.repeats} runs; lag at {args.rate:g}/s for {args.seconds:g} s)"
    )
    for key in runs[0]:
        values = [run[key] for run in runs]
        shown = ", ".join(f"{v:.0f}" if v >= 10 else f"{v:.1f}" for v in values)
        print(f"  {key:<14} median {statistics.median(values):10.1f}   runs: {shown}")


if __name__ == "__main__":
    main()
