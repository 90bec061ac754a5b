"""A real STOMP broker (RabbitMQ with its STOMP plugin, started by .ci/run), and the subscriber
run as `recommender subscribe` or on a thread of the test, against the real databases."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import stomp

from recommender.config import Settings
from recommender.databus import status
from recommender.databus.subscriber import Subscriber
from recommender.store.database import Database
from recommender.store.writer import Writer

BROKER_HOST = os.environ.get("TEST_STOMP_HOST", "127.0.0.1")
BROKER_PORT = int(os.environ.get("TEST_STOMP_PORT", "61613"))
BROKER_LOGIN = os.environ.get("TEST_STOMP_LOGIN", "guest")
BROKER_PASSCODE = os.environ.get("TEST_STOMP_PASSCODE", "guest")
BIN = Path(sys.executable).parent


def eventually(check: Callable[[], Any], timeout: float, what: str, poll_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll_s)


def broker_reachable() -> bool:
    try:
        with socket.create_connection((BROKER_HOST, BROKER_PORT), timeout=2):
            return True
    except OSError:
        return False


@dataclass
class Bus:
    """Names of this test's own topics and durable subscription on the shared broker."""

    actions_topic: str
    recommendations_topic: str
    dead_letter_topic: str
    subscription: str

    def env(self, database_url: str, **extra: str) -> dict[str, str]:
        return {
            "DATABASE_URL": database_url,
            "DATABUS_HOST": BROKER_HOST,
            "DATABUS_PORT": str(BROKER_PORT),
            "DATABUS_USERNAME": BROKER_LOGIN,
            "DATABUS_PASSWORD": BROKER_PASSCODE,
            "DATABUS_ACTIONS_TOPIC": self.actions_topic,
            "DATABUS_DEAD_LETTER_TOPIC": self.dead_letter_topic,
            "DATABUS_SUBSCRIPTION": self.subscription,
            "DATABUS_HEARTBEAT_S": "2",
            "DATABUS_RECONNECT_MAX_S": "2",
            **extra,
        }

    def settings(self, database_url: str, **extra: Any) -> Settings:
        values = {k.lower(): v for k, v in self.env(database_url).items()}
        values.update(extra)
        return Settings(_env_file=None, **values)


def connect(
    listener: stomp.ConnectionListener | None = None, client_id: str | None = None
) -> stomp.Connection12:
    conn = stomp.Connection12([(BROKER_HOST, BROKER_PORT)], vhost="/", auto_decode=False)
    if listener is not None:
        conn.set_listener("test", listener)
    headers = {"client-id": client_id} if client_id else {}
    conn.connect(BROKER_LOGIN, BROKER_PASSCODE, wait=True, headers=headers)
    return conn


class Receipts(stomp.ConnectionListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.received: set[str] = set()
        self.changed = threading.Condition()

    def on_receipt(self, frame: Any) -> None:
        with self.changed:
            self.received.add(frame.headers["receipt-id"])
            self.changed.notify_all()

    def wait(self, receipt: str, timeout: float = 30) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: receipt in self.received, timeout)


def publish(topic: str, bodies: Iterable[bytes | str], *, sent_at: bool = True) -> int:
    """Send persistent messages; return once the broker confirmed them (RabbitMQ confirms in
    order, so the receipt of the last one covers every one before it)."""
    receipts = Receipts()
    conn = connect(receipts)
    pending = list(bodies)
    try:
        for number, body in enumerate(pending, start=1):
            headers = {"persistent": "true", "content-type": "application/json"}
            if sent_at:
                headers["timestamp"] = str(int(time.time() * 1000))
            if number == len(pending):
                headers["receipt"] = "last"
            conn.send(topic, body=body, headers=headers)
        assert not pending or receipts.wait("last"), "the broker did not confirm the messages"
    finally:
        conn.disconnect()
    return len(pending)


class Collector(stomp.ConnectionListener):  # type: ignore[misc]
    """Everything that arrives on a topic while the test listens."""

    def __init__(self) -> None:
        self.frames: list[tuple[dict[str, str], bytes]] = []

    def on_message(self, frame: Any) -> None:
        self.frames.append((dict(frame.headers), frame.body))


def listen(topic: str) -> tuple[stomp.Connection12, Collector]:
    collector = Collector()
    conn = connect(collector)
    conn.subscribe(topic, id=uuid.uuid4().hex, ack="auto")
    return conn, collector


def forget_subscription(name: str) -> None:
    """Delete the broker's durable queue of a subscription (RabbitMQ: a durable unsubscribe)."""
    conn = connect(client_id=name)
    try:
        conn.subscribe(
            "/topic/nothing",
            id=name,
            ack="auto",
            headers={"durable": "true", "auto-delete": "false"},
        )
        conn.unsubscribe(name, headers={"durable": "true"})
    finally:
        conn.disconnect()


@pytest.fixture
def bus() -> Iterator[Bus]:
    if not broker_reachable():  # a missing broker must fail loudly, never skip
        pytest.fail(f"no STOMP broker on {BROKER_HOST}:{BROKER_PORT} (started by .ci/run)")
    tag = uuid.uuid4().hex[:12]
    names = Bus(
        actions_topic=f"/topic/user_actions.test-{tag}",
        recommendations_topic=f"/topic/recommendations.test-{tag}",
        dead_letter_topic=f"/topic/dead_letters.test-{tag}",
        subscription=f"recommender-test-{tag}",
    )
    yield names
    forget_subscription(names.subscription)


class SubscriberThread:
    """The subscriber on a thread of the test, with a writer of its own."""

    def __init__(self, settings: Settings) -> None:
        self.db = Database(settings.database_url, pool_size=4)
        self.writer = Writer(self.db)
        self.subscriber = Subscriber(settings, self.writer)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=self.subscriber.run, args=(self.stop_event,), daemon=True
        )

    def start(self) -> SubscriberThread:
        self.writer.start()
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=60)
        self.writer.stop()
        self.db.dispose()


def report(db: Database, subscription: str) -> status.Reported | None:
    with db.engine.connect() as conn:
        return status.read(conn, subscription)


def subscribed(db: Database, subscription: str) -> bool:
    row = report(db, subscription)
    return row is not None and row.state == status.SUBSCRIBED


class SubscriberProcess:
    """`recommender subscribe` in its own process group, so SIGKILL takes all of it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "recommender"), "subscribe"],
            env={**os.environ, "LOG_FORMAT": "text", **self.env},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
            raise


def restart_broker() -> None:
    """Stop and start RabbitMQ's application: every connection drops; durable queues and their
    persistent messages are read back from disk."""
    for step in (["stop_app"], ["start_app"], ["await_startup"]):
        subprocess.run(["rabbitmqctl", *step], check=True, capture_output=True, timeout=120)
    eventually(broker_reachable, 60, "the broker's STOMP port")


class Checkpoints(stomp.ConnectionListener):  # type: ignore[misc]
    """The highest message number the broker confirmed (receipts `upto-N`, in order)."""

    def __init__(self) -> None:
        self.highest = 0

    def on_receipt(self, frame: Any) -> None:
        receipt = frame.headers.get("receipt-id", "")
        if receipt.startswith("upto-"):
            self.highest = max(self.highest, int(receipt.removeprefix("upto-")))


def stream(topic: str, bodies: list[str], per_s: float, every: int = 50) -> None:
    """Publish `bodies` at about `per_s` a second through broker restarts: after a failure,
    everything the broker had not confirmed is sent again, as a careful publisher would."""
    checkpoints = Checkpoints()
    deadline = time.monotonic() + 300
    while checkpoints.highest < len(bodies):
        assert time.monotonic() < deadline, "could not publish the stream"
        try:
            conn = connect(checkpoints)
        except (stomp.exception.StompException, OSError):
            time.sleep(0.5)
            continue
        try:
            for number in range(checkpoints.highest + 1, len(bodies) + 1):
                headers = {"persistent": "true", "timestamp": str(int(time.time() * 1000))}
                if number % every == 0 or number == len(bodies):
                    headers["receipt"] = f"upto-{number}"
                    time.sleep(every / per_s)
                conn.send(topic, body=bodies[number - 1], headers=headers)
            eventually(lambda: checkpoints.highest == len(bodies), 30, "the last confirmation")
        except (stomp.exception.StompException, OSError, AssertionError):
            time.sleep(0.5)
        finally:
            with contextlib.suppress(Exception):
                conn.disconnect()
