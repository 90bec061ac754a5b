"""Sessions kept in Redis, so every API process (and every worker) sees the same ones."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import orjson
import redis
import redis.asyncio
from redis.commands.core import Script

from recommender.activity.actions import ServiceAction
from recommender.sessions import wire
from recommender.sessions.events import (
    NOBODY,
    Recent,
    SessionEvent,
    latest_run,
    recent,
    still_going,
    visitor_keys,
)

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
# rest of serving the request. KEYS are (events, version) pairs, then the user's orders when
# the visitor is logged in; ARGV the versions held, one per pair. One call by the script's
# digest, not a pipeline of two commands: the pipeline's machinery cost more than the read.
_READ_SESSIONS = """
local out = {}
for i = 1, #ARGV do
  local version = redis.call('GET', KEYS[2 * i]) or '0'
  if version == ARGV[i] then
    out[#out + 1] = version
  else
    local events = cjson.encode(redis.call('ZRANGE', KEYS[2 * i - 1], 0, -1, 'WITHSCORES'))
    out[#out + 1] = version .. '\\n' .. events
  end
end
if #KEYS > 2 * #ARGV then
  out[#out + 1] = redis.call('SMEMBERS', KEYS[#KEYS])
end
return out
"""
# One event into each of a visitor's keys: KEYS are (events, version) pairs, the counter,
# then the user's orders when the event is an order; ARGV the score, the member, the events
# kept, the time to live, then the service ordered. The events change before the version
# does, so a version never names events older than itself. An event the key already holds
# (every API process's refresh adds again what the store received) leaves the version as it
# was: a new version makes every process read the key's events again.
_WRITE_EVENT = """
local ordered = #ARGV > 4
local counter = #KEYS - (ordered and 1 or 0)
for i = 1, counter - 1, 2 do
  if redis.call('ZADD', KEYS[i], ARGV[1], ARGV[2]) == 1 then
    redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(tonumber(ARGV[3]) + 1))
    redis.call('SET', KEYS[i + 1], redis.call('INCR', KEYS[counter]), 'EX', ARGV[4])
  end
  redis.call('EXPIRE', KEYS[i], ARGV[4])
  redis.call('EXPIRE', KEYS[i + 1], ARGV[4])
end
if ordered then
  redis.call('SADD', KEYS[#KEYS], ARGV[5])
end
return 1
"""
# Keys whose events this process holds, with their versions: the visitors active right now.
# At most 50 events of about 150 bytes each per key, so 75 MB at worst, far less in practice.
CACHED_KEYS = 10_000
# A key's version and its events, as this process last read them.
# Tuples of plain values, which the garbage collector stops tracking.
_Held = tuple[bytes, tuple[SessionEvent, ...]]
_NOTHING_HELD: _Held = (b"", ())
_Built = tuple[tuple[bytes, ...], tuple[SessionEvent, ...], Recent]
# Events this process has decoded, by member. A key's events are read whole again whenever one
# is added to it, and decoding them all again took 8 % of the event loop's time under the
# serving benchmark's load. Emptied when it holds more: it only spares work.
DECODED_EVENTS = 100_000


def _events(encoded: bytes, decoded: dict[str, SessionEvent]) -> tuple[SessionEvent, ...]:
    """A key's events from the read script's JSON, each taken from `decoded` when an earlier
    read decoded it (a member names one action, with the time it was added at)."""
    flat = orjson.loads(encoded)
    if not isinstance(flat, list):  # an empty table encodes as {}
        return ()
    if len(decoded) > DECODED_EVENTS:
        decoded.clear()
    events = []
    for i in range(0, len(flat) - 1, 2):
        member, at = flat[i], float(flat[i + 1])
        event = decoded.get(member)
        if event is None or event[0] != at:
            event = decoded[member] = _event(member, at)
        events.append(event)
    return tuple(events)


def _event(member: str, at: float) -> SessionEvent:
    action_id, service_id, ordered, _ = member.split("|", 3)
    return (at, int(action_id), int(service_id), ordered == "1")


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
        # The event loop's calls: over one lean connection where it can (see `wire`).
        self._wire = wire.Wire(url, timeout_s=TIMEOUT_S) if wire.supports(url) else None
        self._call: Callable[..., Awaitable[Any]] = (
            self._wire.call
            if self._wire is not None
            else redis.asyncio.Redis.from_url(
                url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S
            ).execute_command
        )
        self._warned_at = -math.inf
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._decoded: dict[str, SessionEvent] = {}
        # Per visitor (their keys): the versions read, the latest run and its view.
        self._built: OrderedDict[tuple[str, ...], _Built] = OrderedDict()
        self._held_lock = threading.Lock()
        self._read_script = self._sync.register_script(_READ_SESSIONS)
        self._write_script = self._sync.register_script(_WRITE_EVENT)

    async def _run_async(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """A script from the event loop, by its digest; sent whole once Redis forgot it."""
        try:
            return await self._call("EVALSHA", script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return await self._call("EVAL", script.script, len(keys), *keys, *args)

    def _unavailable(self, error: Exception) -> None:
        """Serving goes on without sessions while Redis is away; said once a minute."""
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning("sessions are unavailable (Redis: %s); serving without them", error)

    def _write_call(self, event: ServiceAction) -> tuple[list[str], list[Any]] | None:
        """The write script's keys and arguments for one event; None when nothing is kept."""
        order = event.ordered and event.user_id is not None
        if not self.enabled and not order:
            return None
        keys = [
            name
            for key in (visitor_keys(event.unique_id, event.user_id) if self.enabled else ())
            for name in self._names(key)
        ]
        keys.append(f"{self.prefix}counter")
        args: list[Any] = [event.at, _member(event), self._max_events, self._ttl]
        if order:
            keys.append(f"{self.prefix}o:{event.user_id}")
            args.append(event.service_id)
        return keys, args

    def _names(self, key: str) -> tuple[str, str]:
        """The Redis keys of a visitor key's events and of their version."""
        return f"{self.prefix}s:{key}", f"{self.prefix}v:{key}"

    def add(self, events: Sequence[ServiceAction]) -> None:
        calls = [call for call in map(self._write_call, events) if call is not None]
        if not calls:
            return
        try:
            with self._sync.pipeline(transaction=False) as pipe:
                for keys, args in calls:
                    self._write_script(keys=keys, args=args, client=pipe)
                pipe.execute()
        except UNAVAILABLE as error:
            self._unavailable(error)

    async def add_async(self, events: Sequence[ServiceAction]) -> None:
        # One event a request: a call each, without a pipeline's machinery.
        try:
            for keys, args in filter(None, map(self._write_call, events)):
                await self._run_async(self._write_script, keys, args)
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

    def _read_request(
        self, keys: tuple[str, ...], user_id: int | None
    ) -> tuple[list[_Held], list[str], list[bytes]]:
        """What this process holds for each key, and the read script's keys and arguments."""
        if not self.enabled:
            return [], [f"{self.prefix}o:{user_id}"], []
        with self._held_lock:
            sent = [self._held.get(key, _NOTHING_HELD) for key in keys]
        names = [name for key in keys for name in self._names(key)]
        if user_id is not None:
            names.append(f"{self.prefix}o:{user_id}")
        return sent, names, [held[0] for held in sent]

    def _view(
        self, keys: tuple[str, ...], sent: list[_Held], replies: list[Any], now: float
    ) -> Recent:
        orders = {int(s) for s in replies[len(sent)]} if len(replies) > len(sent) else set()
        if not self.enabled:
            return Recent(orders=frozenset(orders)) if orders else NOBODY
        pairs = zip(keys, sent, replies[: len(sent)], strict=True)
        read = [self._read(key, held, reply) for key, held, reply in pairs]
        run, seen = self._session(keys, read)
        if not still_going(run, now, self.gap_s):
            seen = NOBODY
        return Recent(seen.session, seen.session_orders, frozenset(orders)) if orders else seen

    def _read(self, key: str, sent: _Held, reply: bytes) -> _Held:
        """A key's version and events from a read's reply. Only the version back means the
        events of the version this request sent: taken from what it sent, since another
        request may have replaced or dropped what this process holds meanwhile."""
        version, _, encoded = reply.partition(b"\n")
        held = (version, _events(encoded, self._decoded)) if encoded else (version, sent[1])
        with self._held_lock:
            self._held[key] = held
            self._held.move_to_end(key)
            while len(self._held) > CACHED_KEYS:
                self._held.popitem(last=False)
        return held

    def _session(
        self, keys: tuple[str, ...], read: list[_Held]
    ) -> tuple[tuple[SessionEvent, ...], Recent]:
        """The latest run of the keys' events and serving's view of it, built once per
        versions of the keys: most requests come with nothing changed since the last."""
        versions = tuple(version for version, _ in read)
        with self._held_lock:
            built = self._built.get(keys)
        if built is not None and built[0] == versions:
            return built[1], built[2]
        run = latest_run([event for _, events in read for event in events], self.gap_s)
        seen = recent(run, ())
        with self._held_lock:
            self._built[keys] = (versions, run, seen)
            self._built.move_to_end(keys)
            while len(self._built) > CACHED_KEYS:
                self._built.popitem(last=False)
        return run, seen

    def recent(self, unique_id: str, user_id: int | None, now: float) -> Recent:
        if not self.enabled and user_id is None:
            return NOBODY
        keys = visitor_keys(unique_id, user_id)
        sent, names, versions = self._read_request(keys, user_id)
        try:
            replies = self._read_script(keys=names, args=versions)
        except UNAVAILABLE as error:
            self._unavailable(error)
            return NOBODY
        return self._view(keys, sent, replies, now)

    async def recent_async(self, unique_id: str, user_id: int | None, now: float) -> Recent:
        if not self.enabled and user_id is None:
            return NOBODY
        keys = visitor_keys(unique_id, user_id)
        sent, names, versions = self._read_request(keys, user_id)
        try:
            replies = await self._run_async(self._read_script, names, versions)
        except UNAVAILABLE as error:
            self._unavailable(error)
            return NOBODY
        return self._view(keys, sent, replies, now)

    def close(self) -> None:
        self._sync.close()
        if self._wire is not None:
            self._wire.close()
