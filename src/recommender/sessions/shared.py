"""Sessions kept in Redis, so every API process (and every worker) sees the same ones."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import redis
import redis.asyncio

from recommender.activity.actions import ServiceAction
from recommender.sessions.events import (
    NOBODY,
    Recent,
    current_session,
    recent,
    visitor_keys,
)

# The blocking and the asyncio pipelines queue commands alike; only execute() differs.
Pipe = Any
PREFIX = "recommender:"
TIMEOUT_S = 0.5
WARN_EVERY_S = 60.0
UNAVAILABLE = (redis.RedisError, OSError)
log = logging.getLogger(__name__)
# Keys of quiet visitors expire on their own; sessions are decided on event times anyway.
MIN_TTL_S = 3600


def _member(event: ServiceAction) -> str:
    user = "" if event.user_id is None else str(event.user_id)
    return f"{event.id}|{event.service_id}|{int(event.ordered)}|{user}|{event.unique_id}"


# Each visitor key's events as one JSON array (member, score, member, score...): read as
# separate replies, redis-py's parser spent twice as long on a 50-event session as all the
# rest of serving the request.
_READ_SESSIONS = """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = cjson.encode(redis.call('ZRANGE', key, 0, -1, 'WITHSCORES'))
end
return out
"""


def _events(encoded: bytes) -> list[ServiceAction]:
    flat = orjson.loads(encoded)
    if not isinstance(flat, list):  # an empty table encodes as {}
        return []
    return [_event(flat[i], float(flat[i + 1])) for i in range(0, len(flat) - 1, 2)]


def _event(member: str, at: float) -> ServiceAction:
    action_id, service_id, ordered, user, unique_id = member.split("|", 4)
    return ServiceAction(
        id=int(action_id),
        unique_id=unique_id,
        user_id=int(user) if user else None,
        service_id=int(service_id),
        at=at,
        ordered=ordered == "1",
    )


class RedisSessions:
    """A sorted set of recent actions per visitor key (score: the action's time) and a set of
    ordered services per user; adding the same action twice changes nothing."""

    def __init__(
        self,
        url: str,
        *,
        gap_s: float,
        max_events: int,
        enabled: bool = True,
        prefix: str = PREFIX,
    ) -> None:
        self.gap_s = gap_s
        self.prefix = prefix
        self.enabled = enabled
        self._max_events = max_events
        self._ttl = int(max(MIN_TTL_S, 4 * gap_s))
        # A slow or absent Redis must cost a request little: short timeouts, then no session.
        self._sync = redis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S
        )
        self._async = redis.asyncio.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S
        )
        self._warned_at = -math.inf

    def _unavailable(self, error: Exception) -> None:
        """Serving goes on without sessions while Redis is away; said once a minute."""
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning("sessions are unavailable (Redis: %s); serving without them", error)

    def _write(
        self,
        pipe: Pipe,
        events: Sequence[ServiceAction],
    ) -> None:
        for event in events:
            if event.ordered and event.user_id is not None:
                pipe.sadd(f"{self.prefix}o:{event.user_id}", event.service_id)
            if not self.enabled:
                continue
            for key in visitor_keys(event.unique_id, event.user_id):
                name = f"{self.prefix}s:{key}"
                pipe.zadd(name, {_member(event): event.at})
                pipe.zremrangebyrank(name, 0, -(self._max_events + 1))
                pipe.expire(name, self._ttl)

    def add(self, events: Sequence[ServiceAction]) -> None:
        if not events:
            return
        try:
            with self._sync.pipeline(transaction=False) as pipe:
                self._write(pipe, events)
                pipe.execute()
        except UNAVAILABLE as error:
            self._unavailable(error)

    async def add_async(self, events: Sequence[ServiceAction]) -> None:
        if not events:
            return
        try:
            async with self._async.pipeline(transaction=False) as pipe:
                self._write(pipe, events)
                await pipe.execute()
        except UNAVAILABLE as error:
            self._unavailable(error)

    def add_orders(self, pairs: Iterable[tuple[int, int]]) -> None:
        try:
            with self._sync.pipeline(transaction=False) as pipe:
                for user_id, service_id in pairs:
                    pipe.sadd(f"{self.prefix}o:{user_id}", service_id)
                pipe.execute()
        except UNAVAILABLE as error:
            self._unavailable(error)

    def _view(self, replies: list[object], with_orders: bool, now: float) -> Recent:
        orders = {int(s) for s in replies[-1]} if with_orders else set()  # type: ignore[attr-defined]
        sessions = replies[:-1] if with_orders else replies
        if not self.enabled:
            return Recent(orders=frozenset(orders)) if orders else NOBODY
        events = [e for reply in sessions for encoded in reply for e in _events(encoded)]  # type: ignore[attr-defined]
        return recent(current_session(events, now, self.gap_s), orders)

    def _queue(
        self,
        pipe: Pipe,
        unique_id: str,
        user_id: int | None,
    ) -> None:
        if self.enabled:
            keys = [f"{self.prefix}s:{key}" for key in visitor_keys(unique_id, user_id)]
            pipe.eval(_READ_SESSIONS, len(keys), *keys)
        if user_id is not None:
            pipe.smembers(f"{self.prefix}o:{user_id}")

    def recent(self, unique_id: str, user_id: int | None, now: float) -> Recent:
        if not self.enabled and user_id is None:
            return NOBODY
        try:
            with self._sync.pipeline(transaction=False) as pipe:
                self._queue(pipe, unique_id, user_id)
                replies = pipe.execute()
        except UNAVAILABLE as error:
            self._unavailable(error)
            return NOBODY
        return self._view(replies, user_id is not None, now)

    async def recent_async(self, unique_id: str, user_id: int | None, now: float) -> Recent:
        if not self.enabled and user_id is None:
            return NOBODY
        try:
            async with self._async.pipeline(transaction=False) as pipe:
                self._queue(pipe, unique_id, user_id)
                replies = await pipe.execute()
        except UNAVAILABLE as error:
            self._unavailable(error)
            return NOBODY
        return self._view(replies, user_id is not None, now)

    def close(self) -> None:
        self._sync.close()
