"""`recommender subscribe`: user actions from the databus into the store, none lost, none twice.

A message travels through three threads. The STOMP receiver validates it and hands it to the
store writer, which stores the messages of one transaction together (one statement of each kind
for all of them, see `ingest`); the settler waits for each commit, in the order the messages
came, and only then acknowledges the message (client-individual acks). If anything stops before
the acknowledgement the broker delivers the message again, and its digest makes that delivery
store nothing. A fourth thread reports state and counts to the store.

The subscription is durable where the broker supports it (the headers of RabbitMQ, ActiveMQ and
Artemis are all sent), so the broker keeps the topic's messages while no subscriber runs.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from queue import Queue

import stomp
from sqlalchemy import exc as sql_errors

from recommender.config import Settings
from recommender.contract.user_actions import UserActionIn
from recommender.databus import connection, status
from recommender.databus.ingest import Outcome, dead_letter, ingest_many
from recommender.databus.messages import Incoming, Rejection, describe, incoming, read_action
from recommender.store.schema import utcnow
from recommender.store.writer import Writer, WriterStoppedError

log = logging.getLogger(__name__)

WRITE_TIMEOUT_S = 60.0
RECEIPT_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 30.0


def is_transient(error: BaseException) -> bool:
    """A failure of the store itself (gone, locked, timed out), not of this message's data."""
    return isinstance(
        error,
        sql_errors.OperationalError
        | sql_errors.InterfaceError
        | sql_errors.TimeoutError
        | WriterStoppedError
        | TimeoutError,
    ) or bool(getattr(error, "connection_invalidated", False))


def subscription_headers(settings: Settings) -> dict[str, str]:
    name = settings.databus_subscription
    prefetch = str(settings.databus_prefetch)
    return {
        # RabbitMQ: a durable queue named after the subscription id, kept while nobody listens.
        "durable": "true",
        "auto-delete": "false",
        "prefetch-count": prefetch,
        # ActiveMQ Classic, then Artemis (both with the connection's client id).
        "activemq.subscriptionName": name,
        "activemq.prefetchSize": prefetch,
        "durable-subscription-name": name,
    }


@dataclass(eq=False)
class Session:
    """One connection to the broker. Acknowledgements must go back on the connection that
    received the message: once it is closed, its messages are the broker's to deliver again."""

    number: int
    conn: stomp.Connection12 | None = None
    accepting: bool = True
    closed: threading.Event = field(default_factory=threading.Event)
    reason: str = ""
    receipts: dict[str, threading.Event] = field(default_factory=dict)

    def close(self, reason: str) -> None:
        if not self.closed.is_set():
            self.reason = reason
            self.accepting = False
            self.closed.set()


@dataclass(frozen=True)
class Pending:
    session: Session
    ack_id: str
    message: Incoming
    content: UserActionIn | Rejection
    result: Future[Outcome]


class _Listener(stomp.ConnectionListener):  # type: ignore[misc]
    def __init__(self, subscriber: Subscriber, session: Session) -> None:
        self.subscriber = subscriber
        self.session = session

    def on_message(self, frame: stomp.utils.Frame) -> None:
        self.subscriber.received(self.session, frame.headers, frame.body)

    def on_receipt(self, frame: stomp.utils.Frame) -> None:
        event = self.session.receipts.pop(frame.headers.get("receipt-id", ""), None)
        if event is not None:
            event.set()

    def on_error(self, frame: stomp.utils.Frame) -> None:
        message = frame.headers.get("message", "")
        log.error("the broker sent an error: %s %r", message, frame.body[:500])
        self.session.close(f"broker error: {message}")

    def on_disconnected(self) -> None:
        self.session.close("connection lost")

    def on_heartbeat_timeout(self) -> None:
        self.session.close("the broker's heart-beats stopped")


class Subscriber:
    """Consumes `DATABUS_ACTIONS_TOPIC` until `run`'s stop event is set."""

    def __init__(
        self,
        settings: Settings,
        writer: Writer,
        *,
        observe_lag: Callable[[float], None] | None = None,
    ) -> None:
        """`observe_lag` is given the lag of each stored message (a benchmark's measure)."""
        assert settings.databus_host is not None, "DATABUS_HOST is not set"
        self.settings = settings
        self.writer = writer
        self._observe_lag = observe_lag
        self.broker = connection.broker_name(settings)
        self._pending: Queue[Pending | None] = Queue()
        self._lock = threading.Lock()
        self._counts = status.Counts()
        self._lags: list[float] = []
        self._state = status.CONNECTING
        self._detail = ""
        self._started_at: datetime = utcnow()

    # --- the supervisor: connect, subscribe, wait, and again after a back-off ------------------

    def run(self, stop: threading.Event) -> None:
        settler = threading.Thread(target=self._settle_loop, name="databus-settler", daemon=True)
        reporting = threading.Event()
        reporter = threading.Thread(
            target=self._report_loop, args=(reporting,), name="databus-reporter", daemon=True
        )
        settler.start()
        reporter.start()
        backoff = connection.Backoff(self.settings.databus_reconnect_max_s)
        number = 0
        try:
            while not stop.is_set():
                number += 1
                session = self._open(number)
                if session is not None:
                    backoff.reset()
                    while not (session.closed.wait(0.2) or stop.is_set()):
                        pass
                    self._close(session, graceful=stop.is_set())
                if not stop.is_set():
                    wait = backoff.next_wait()
                    log.info("reaching the databus again in %.1f s", wait)
                    stop.wait(wait)
        finally:
            self._pending.put(None)
            settler.join(timeout=DRAIN_TIMEOUT_S)
            reporting.set()
            reporter.join(timeout=10)
            self._set_state(status.STOPPED, "")
            self._report()

    def _open(self, number: int) -> Session | None:
        self._set_state(status.CONNECTING, "")
        session = Session(number)
        listener = _Listener(self, session)
        try:
            session.conn = connection.connect(
                self.settings, listener, client_id=self.settings.databus_subscription
            )
            session.conn.subscribe(
                self.settings.databus_actions_topic,
                id=self.settings.databus_subscription,
                ack="client-individual",
                headers=subscription_headers(self.settings),
            )
        except (stomp.exception.StompException, OSError) as error:
            problem = f"{self.broker}: {type(error).__name__} {error}".strip()
            log.warning("cannot subscribe on the databus: %s", problem)
            session.close(problem)
            self._set_state(status.RECONNECTING, problem)
            return None
        self._set_state(status.SUBSCRIBED, "")
        log.info(
            "subscribed to %s on %s as %s",
            self.settings.databus_actions_topic,
            self.broker,
            self.settings.databus_subscription,
        )
        return session

    def _close(self, session: Session, *, graceful: bool) -> None:
        if graceful:
            # Take nothing new; what was taken is committed and acknowledged before leaving.
            session.accepting = False
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while self._pending.unfinished_tasks and time.monotonic() < deadline:
                time.sleep(0.05)
        session.close(session.reason or "stopping")
        if session.conn is not None:
            connection.close(session.conn)
        if not graceful:
            log.warning("lost the databus: %s", session.reason)
            state = (
                status.STORE_UNAVAILABLE
                if session.reason.startswith("store")
                else status.RECONNECTING
            )
            self._set_state(state, session.reason)

    # --- the receiver thread --------------------------------------------------------------------

    def received(self, session: Session, headers: dict[str, str], body: bytes) -> None:
        if not session.accepting:
            return  # not acknowledged: the broker delivers it again
        destination = headers.get("destination", self.settings.databus_actions_topic)
        message = incoming(destination, headers, body)
        content = read_action(body, self.settings.max_body_bytes)
        # Shares its transaction's statements with the other messages the writer takes with it.
        result = self.writer.submit_item(ingest_many, (message, content))
        ack_id = headers.get("ack") or headers.get("message-id", "")
        self._pending.put(Pending(session, ack_id, message, content, result))
        with self._lock:
            self._counts.consumed += 1

    # --- the settler thread ---------------------------------------------------------------------

    def _settle_loop(self) -> None:
        while True:
            item = self._pending.get()
            try:
                if item is None:
                    return
                self._settle(item)
            except Exception:
                log.exception("settling a databus message failed; it will be delivered again")
            finally:
                self._pending.task_done()

    def _settle(self, item: Pending) -> None:
        try:
            outcome = item.result.result(timeout=WRITE_TIMEOUT_S)
        except Exception as error:
            if is_transient(error):
                item.session.close(f"store unavailable: {type(error).__name__}")
                return
            unstorable = Rejection(f"could not be stored: {type(error).__name__}: {error}")
            log.error("a databus message could not be stored: %s", error)
            try:
                outcome = self.writer.run(
                    partial(dead_letter, message=item.message, rejection=unstorable),
                    timeout=WRITE_TIMEOUT_S,
                )
            except Exception as second:
                item.session.close(f"store unavailable: {type(second).__name__}")
                return
            item = Pending(item.session, item.ack_id, item.message, unstorable, item.result)
        self._count(item, outcome)
        if isinstance(item.content, Rejection) and not self._forward(item):
            return
        self._acknowledge(item)

    def _count(self, item: Pending, outcome: Outcome) -> None:
        with self._lock:
            if outcome is Outcome.STORED:
                self._counts.stored += 1
                if item.message.sent_at is not None:
                    lag = max(0.0, time.time() - item.message.sent_at)
                    self._lags.append(lag)
                    if self._observe_lag is not None:
                        self._observe_lag(lag)
            elif outcome is Outcome.DUPLICATE:
                self._counts.duplicates += 1
            else:
                self._counts.dead_lettered += 1

    def _forward(self, item: Pending) -> bool:
        """Send a dead letter to `DATABUS_DEAD_LETTER_TOPIC` (if set) and wait for the broker's
        receipt; False when it could not be confirmed (the message is then not acknowledged)."""
        topic = self.settings.databus_dead_letter_topic
        if topic is None:
            return True
        assert isinstance(item.content, Rejection)
        conn = item.session.conn
        if conn is None or item.session.closed.is_set():
            return False
        receipt = uuid.uuid4().hex
        confirmed = threading.Event()
        item.session.receipts[receipt] = confirmed
        try:
            conn.send(
                topic,
                body=item.message.body,
                headers={
                    "persistent": "true",
                    "receipt": receipt,
                    "x-dead-letter-reason": describe(item.content)[:4000],
                    "x-original-destination": item.message.destination,
                    "x-message-digest": item.message.digest,
                },
            )
        except (stomp.exception.StompException, OSError) as error:
            item.session.close(f"dead-letter topic: {error}")
            return False
        if not confirmed.wait(RECEIPT_TIMEOUT_S):
            item.session.close("the broker did not confirm a dead letter")
            return False
        return True

    @staticmethod
    def _acknowledge(item: Pending) -> None:
        conn = item.session.conn
        if conn is None or item.session.closed.is_set():
            return
        try:
            conn.ack(item.ack_id)
        except (stomp.exception.StompException, OSError) as error:
            item.session.close(f"acknowledging failed: {error}")

    # --- the reporter thread --------------------------------------------------------------------

    def _set_state(self, state: str, detail: str) -> None:
        with self._lock:
            self._state, self._detail = state, detail

    def _report_loop(self, done: threading.Event) -> None:
        while not done.wait(status.REPORT_EVERY_S):
            self._report()

    def _report(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, status.Counts()
            lags, self._lags = self._lags, []
            report = status.Report(
                subscription=self.settings.databus_subscription,
                state=self._state,
                detail=self._detail,
                destination=self.settings.databus_actions_topic,
                broker=self.broker,
                started_at=self._started_at,
                counts=counts,
                lags_s=lags,
            )
        try:
            self.writer.run(partial(status.write, report=report), timeout=10)
        except Exception as error:
            log.warning("could not report the subscriber's state: %s", error)
            with self._lock:
                self._counts.add(counts)
