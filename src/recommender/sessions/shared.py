"""Sessions kept in Redis, so every API process (and every worker) sees the same ones."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
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


# Every visitor key has a version beside its events, drawn from one counter that only grows,
# so a version is never seen twice even after a key expired. A read names the version this
# process already holds for each key and gets back only the version when nothing changed,
# else the version and the events as one JSON array (member, score, member, score...): read
# as separate replies, redis-py's parser spent longer on a 50-event session than all the
# rest of serving the request.
_READ_SESSIONS = """
local out = {}
for i = 1, #KEYS, 2 do
  local version = redis.call('GET', KEYS[i + 1]) or '0'
  if version == ARGV[(i + 1) / 2] then
    out[#out + 1] = version
  else
    local events = cjson.encode(redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES'))
    out[#out + 1] = version .. '\\n' .. events
  end
end
return out
"""
# One event into each of a visitor's keys: KEYS are (events, version) pairs and the counter
# last; ARGV the score, the member, the events kept and the time to live. The events change
# before the version does, so a version never names events older than itself.
_WRITE_EVENT = """
local counter = KEYS[#KEYS]
for i = 1, #KEYS - 1, 2 do
  redis.call('ZADD', KEYS[i], ARGV[1], ARGV[2])
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(tonumber(ARGV[3]) + 1))
  redis.call('EXPIRE', KEYS[i], ARGV[4])
  redis.call('SET', KEYS[i + 1], redis.call('INCR', counter), 'EX', ARGV[4])
end
return 1
"""
# Keys whose events this process holds, with their versions: the visitors active right now.
# At most 50 events of about 150 bytes each per key, so 75 MB at worst, far less in practice.
CACHED_KEYS = 10_000
# A key's version and its events, as this process last read them.
_Held = tuple[bytes, list[ServiceAction]]
_NOTHING_HELD: _Held = (b"", [])


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
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._held_lock = threading.Lock()

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
            keys = [
                name
                for key in visitor_keys(event.unique_id, event.user_id)
                for name in self._names(key)
            ]
            pipe.eval(
                _WRITE_EVENT,
                len(keys) + 1,
                *keys,
                f"{self.prefix}counter",
                event.at,
                _member(event),
                self._max_events,
                self._ttl,
            )

    def _names(self, key: str) -> tuple[str, str]:
        """The Redis keys of a visitor key's events and of their version."""
        return f"{self.prefix}s:{key}", f"{self.prefix}v:{key}"

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

    def _view(
        self,
        keys: tuple[str, ...],
        sent: list[_Held],
        replies: list[Any],
        with_orders: bool,
        now: float,
    ) -> Recent:
        orders = {int(s) for s in replies[-1]} if with_orders else set()
        if not self.enabled:
            return Recent(orders=frozenset(orders)) if orders else NOBODY
        events = [
            e
            for key, held, reply in zip(keys, sent, replies[0], strict=True)
            for e in self._read(key, held, reply)
        ]
        return recent(current_session(events, now, self.gap_s), orders)

    def _read(self, key: str, sent: _Held, reply: bytes) -> list[ServiceAction]:
        """A key's events from a read's reply. Only the version back means the events of
        the version this request sent: taken from what it sent, since another request may
        have replaced or dropped what this process holds meanwhile."""
        version, _, encoded = reply.partition(b"\n")
        events = _events(encoded) if encoded else sent[1]
        with self._held_lock:
            self._held[key] = (version, events)
            self._held.move_to_end(key)
            while len(self._held) > CACHED_KEYS:
                self._held.popitem(last=False)
        return events

    def _queue(self, pipe: Pipe, keys: tuple[str, ...], user_id: int | None) -> list[_Held]:
        """Queue the reads of a visitor; returns what this process held for each key."""
        sent: list[_Held] = []
        if self.enabled:
            with self._held_lock:
                sent = [self._held.get(key, _NOTHING_HELD) for key in keys]
            names = [name for key in keys for name in self._names(key)]
            pipe.eval(_READ_SESSIONS, len(names), *names, *(held[0] for held in sent))
        if user_id is not None:
            pipe.smembers(f"{self.prefix}o:{user_id}")
        return sent

    def recent(self, unique_id: str, user_id: int | None, now: float) -> Recent:
        if not self.enabled and user_id is None:
            return NOBODY
        keys = visitor_keys(unique_id, user_id)
        try:
            with self._sync.pipeline(transaction=False) as pipe:
                sent = self._queue(pipe, keys, user_id)
                replies = pipe.execute()
        except UNAVAILABLE as error:
            self._unavailable(error)
            return NOBODY
        return self._view(keys, sent, replies, user_id is not None, now)

    async def recent_async(self, unique_id: str, user_id: int | None, now: float) -> Recent:
        if not self.enabled and user_id is None:
            return NOBODY
        keys = visitor_keys(unique_id, user_id)
        try:
            async with self._async.pipeline(transaction=False) as pipe:
                sent = self._queue(pipe, keys, user_id)
                replies = await pipe.execute()
        except UNAVAILABLE as error:
            self._unavailable(error)
            return NOBODY
        return self._view(keys, sent, replies, user_id is not None, now)

    def close(self) -> None:
        self._sync.close()
