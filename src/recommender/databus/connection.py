"""Reaching the broker: a STOMP 1.2 connection from the settings, and the wait between tries."""

from __future__ import annotations

import random

import stomp

from recommender.config import Settings

CONNECT_TIMEOUT_S = 10.0


def broker_name(settings: Settings) -> str:
    scheme = "stomp+ssl" if settings.databus_ssl else "stomp"
    return f"{scheme}://{settings.databus_host}:{settings.databus_port}"


def connect(
    settings: Settings, listener: stomp.ConnectionListener, *, client_id: str
) -> stomp.Connection12:
    """A connected STOMP 1.2 connection with heart-beats, whose frames go to `listener`.

    One attempt: the caller decides when to try again. Bodies stay bytes, so that a message is
    identified by exactly what was sent. Raises `stomp.exception.StompException` or `OSError`.
    """
    assert settings.databus_host is not None
    beat_ms = int(settings.databus_heartbeat_s * 1000)
    address = (settings.databus_host, settings.databus_port)
    conn = stomp.Connection12(
        [address],
        heartbeats=(beat_ms, beat_ms),
        vhost=settings.databus_vhost,
        auto_decode=False,
        reconnect_attempts_max=1,
        timeout=CONNECT_TIMEOUT_S,
    )
    if settings.databus_ssl:
        conn.set_ssl(for_hosts=[address])
    conn.set_listener("recommender", listener)
    password = settings.databus_password
    try:
        conn.connect(
            username=settings.databus_username,
            passcode=password.get_secret_value() if password else None,
            wait=True,
            # ActiveMQ and Artemis key durable subscriptions by client id.
            headers={"client-id": client_id},
        )
    except BaseException:
        close(conn)
        raise
    return conn


def close(conn: stomp.Connection12) -> None:
    """Disconnect, whatever state the connection is in."""
    try:
        conn.disconnect()
    except Exception:  # already gone: nothing to close
        conn.transport.stop()


class Backoff:
    """Exponential waits with jitter, from `initial_s` up to `max_s`; reset on success."""

    def __init__(self, max_s: float, initial_s: float = 0.5, rng: random.Random | None = None):
        self.max_s = max_s
        self.initial_s = min(initial_s, max_s)
        self._rng = rng or random.Random()
        self.attempt = 0

    def next_wait(self) -> float:
        ceiling = min(self.max_s, self.initial_s * 2**self.attempt)
        self.attempt += 1
        # At least half the ceiling: never a hot loop, and replicas still spread out.
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
