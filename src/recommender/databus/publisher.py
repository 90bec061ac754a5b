"""Served panels published to `DATABUS_RECOMMENDATIONS_TOPIC`, off the request path.

A request hands its impression to `offer`, which only puts it on a bounded queue and never
waits: when the queue is full (the broker slow or away) the panel is counted and dropped. One
thread per process drains the queue onto a STOMP connection it opens, and opens again after a
back-off when the broker goes away. Publishing is best effort; the impression log in the store
is the record of what was served.

The message keeps the original recommender's form, `{"recommender_system", "context",
"response"}`, with the `recommendation_id` that user actions name to attribute a click.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

import stomp

from recommender.activity.impressions import Impression
from recommender.config import Settings
from recommender.databus import connection
from recommender.observability.metrics import PANELS_PUBLISHED, PANELS_UNPUBLISHED

log = logging.getLogger(__name__)

SYSTEM_NAME = "marketplace-recommender"
CLOSE_TIMEOUT_S = 5.0


def panel_message(impression: Impression, recommendation_id: int) -> dict[str, Any]:
    """What was asked and what was answered, as the portal's request and our response name it."""
    context = {
        "timestamp": impression.requested_at.isoformat(),
        "unique_id": impression.unique_id,
        "visit_id": impression.visit_id,
        "page_id": impression.page_id,
        "panel_id": impression.panel_id,
        "client_id": impression.client_id,
        "user_id": impression.user_id,
        "aai_uid": impression.aai_uid,
        "engine_version": impression.engine_requested,
        "candidates": impression.candidates or [],
        "search_data": impression.search_data,
    }
    response = {
        "recommendation_id": recommendation_id,
        "panel_id": impression.panel_id,
        "recommendations": impression.service_ids,
        "scores": impression.scores,
        "engine_version": impression.engine,
        "model_version": impression.model_version,
        "experiment_id": impression.experiment_id,
        "arm": impression.arm,
    }
    return {"recommender_system": SYSTEM_NAME, "context": context, "response": response}


class _Listener(stomp.ConnectionListener):  # type: ignore[misc]
    def __init__(self, lost: threading.Event) -> None:
        self.lost = lost

    def on_disconnected(self) -> None:
        self.lost.set()

    def on_heartbeat_timeout(self) -> None:
        self.lost.set()

    def on_error(self, frame: stomp.utils.Frame) -> None:
        log.error("the broker refused a published panel: %s", frame.headers.get("message", ""))
        self.lost.set()


class Publisher:
    """One per process; `start()` after any fork, `close()` at shutdown."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self._queue: queue.Queue[tuple[Impression, int] | None] = queue.Queue(
            maxsize=settings.databus_publish_queue
        )
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._connected = False
        self._problem = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Publisher | None:
        topic = settings.databus_recommendations_topic
        if settings.databus_host is None or topic is None:
            return None
        return cls(settings, topic)

    def offer(self, impression: Impression, recommendation_id: int) -> None:
        """Queue a served panel for publishing; never blocks, never raises."""
        try:
            self._queue.put_nowait((impression, recommendation_id))
        except queue.Full:
            PANELS_UNPUBLISHED.inc()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="databus-publisher", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Publish what is queued if the broker takes it quickly, then stop."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            self._queue.put(None, timeout=CLOSE_TIMEOUT_S)
        except queue.Full:
            self._stop.set()
        thread.join(timeout=CLOSE_TIMEOUT_S)
        self._stop.set()

    def health(self) -> dict[str, Any]:
        part: dict[str, Any] = {
            "topic": self.topic,
            "connected": self._connected,
            "queued": self._queue.qsize(),
        }
        if self._problem:
            part["problem"] = self._problem
        return part

    def _loop(self) -> None:
        backoff = connection.Backoff(self.settings.databus_reconnect_max_s)
        held: tuple[Impression, int] | None = None
        while not self._stop.is_set():
            lost = threading.Event()
            try:
                conn = connection.connect(
                    self.settings, _Listener(lost), client_id=f"{SYSTEM_NAME}-publisher"
                )
            except (stomp.exception.StompException, OSError) as error:
                self._problem = f"{type(error).__name__} {error}".strip()
                self._stop.wait(backoff.next_wait())
                continue
            self._connected, self._problem = True, ""
            backoff.reset()
            try:
                held = self._drain(conn, lost, held)
            finally:
                self._connected = False
                connection.close(conn)
            if held is None and not lost.is_set():
                return  # closed
            self._stop.wait(backoff.next_wait())

    def _drain(
        self, conn: stomp.Connection12, lost: threading.Event, held: tuple[Impression, int] | None
    ) -> tuple[Impression, int] | None:
        """Send until closed (returns None) or the connection fails (returns the unsent panel)."""
        while not (lost.is_set() or self._stop.is_set()):
            item = held if held is not None else self._next(lost)
            if item is None:
                return None
            held = item
            impression, recommendation_id = item
            body = json.dumps(panel_message(impression, recommendation_id))
            try:
                conn.send(
                    self.topic,
                    body=body,
                    content_type="application/json",
                    headers={"persistent": "true", "timestamp": str(int(time.time() * 1000))},
                )
            except (stomp.exception.StompException, OSError) as error:
                self._problem = f"{type(error).__name__} {error}".strip()
                return held
            PANELS_PUBLISHED.inc()
            held = None
        return held

    def _next(self, lost: threading.Event) -> tuple[Impression, int] | None:
        while not (lost.is_set() or self._stop.is_set()):
            try:
                return self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
        return None
