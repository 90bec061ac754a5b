"""One connection to Redis for the event loop: commands sent in order, replies read in order.

A session read is one command per request. Through redis-py's asyncio client it cost the
event loop about 200 of the 640 microseconds of CPU an answer took (the pool's check-out, the
connection's checks, the retry wrapper, the parser); what it must do is write one packed
command and read one reply. Redis answers a connection's commands in the order they came,
so every request can share one connection: each call queues a future and the replies, parsed
by hiredis, resolve the futures in turn.

The commands of the requests that one turn of the event loop serves leave together, in one
write, after that turn. A write to a socket on this host is a system call that also runs the
receiving side's network stack: one per command was the largest single cost of a session read
on the loop's thread.

A call that fails (no connection, a timeout, a closed connection) raises an `OSError`. A
timeout also closes the connection, since later replies could no longer be matched to their
calls; the next call connects again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis
import redis


class WireError(ConnectionError):
    """The connection failed or was closed before the reply came."""


def supports(url: str) -> bool:
    """Whether `Wire` can talk to this URL: plain TCP, the database in the path. TLS, sockets
    and options in the query (`?db=3`, timeouts) go through redis-py, which reads them all."""
    parts = urlsplit(url)
    return parts.scheme == "redis" and not parts.query


def _checked(reply: Any) -> Any:
    """The reply, or the error it is, raised as redis-py would raise it."""
    if not isinstance(reply, hiredis.ReplyError):
        return reply
    message = str(reply)
    if message.startswith("NOSCRIPT"):
        raise redis.exceptions.NoScriptError(message)
    raise redis.ResponseError(message)


async def _ask(replies: _Replies, *args: Any) -> Any:
    """The reply to one command on this connection."""
    return _checked(await replies.send(hiredis.pack_command(args)))


class _Replies(asyncio.Protocol):
    """The connection's protocol: a queue of calls waiting for their replies, in order."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        # uvloop's transports are not `asyncio.Transport` instances; both have what is used.
        self.transport: Any = None
        self.reader = hiredis.Reader()
        # Replies come in the order of the calls, so only the last call of each write needs a
        # timer: once it has its reply, so have the calls written before it.
        self.waiting: deque[tuple[asyncio.Future[Any], asyncio.TimerHandle | None]] = deque()
        # Commands not yet written, and the calls they belong to (see `send`).
        self.unsent: list[bytes] = []
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                future, timer = self.waiting.popleft()
                if timer is not None:
                    timer.cancel()
                if not future.done():
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError):
            # Bytes that are no reply, or a reply nobody asked for: the calls can no longer
            # be matched to their replies, so the connection ends (and fails its calls).
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.unsent.clear()
        while self.waiting:
            future, timer = self.waiting.popleft()
            if timer is not None:
                timer.cancel()
            if not future.done():
                future.set_exception(WireError(f"Redis closed the connection ({exc})"))

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        """Queue one command, written with the others of this turn of the event loop; the
        future holds its reply. A reply later than the timeout fails its call and closes the
        connection (the calls after it fail with it)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if self.lost:
            future.set_exception(WireError("the connection to Redis is closed"))
            return future
        if not self.unsent:
            loop.call_soon(self._write)
        self.unsent.append(packed)
        self.waiting.append((future, None))
        return future

    def _write(self) -> None:
        if self.lost or not self.unsent:
            return
        unsent, self.unsent = self.unsent, []
        future, _ = self.waiting[-1]
        timer = asyncio.get_running_loop().call_later(self.timeout_s, self._expire, future)
        self.waiting[-1] = (future, timer)
        self.transport.write(unsent[0] if len(unsent) == 1 else b"".join(unsent))

    def _expire(self, future: asyncio.Future[Any]) -> None:
        if not future.done():
            future.set_exception(TimeoutError("Redis did not answer in time"))
        self.close()

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()


class Wire:
    """Commands to one Redis database over one connection of the running event loop."""

    def __init__(self, url: str, *, timeout_s: float) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "localhost"
        self._port = parts.port or 6379
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._db = int(parts.path.strip("/") or 0)
        self._timeout_s = timeout_s
        self._replies: _Replies | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Future[_Replies] | None = None

    async def call(self, *args: Any) -> Any:
        """The reply to one command; an error reply raises redis-py's exception for it."""
        return await _ask(await self._connection(), *args)

    async def _connection(self) -> _Replies:
        loop = asyncio.get_running_loop()
        replies = self._replies
        if replies is not None and not replies.lost and self._loop is loop:
            return replies
        # Requests that come while the connection is being made wait for the same one.
        if self._connecting is None or self._loop is not loop:
            self._loop = loop
            self._connecting = asyncio.ensure_future(self._connect(loop))
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Replies:
        _, replies = await asyncio.wait_for(
            loop.create_connection(lambda: _Replies(self._timeout_s), self._host, self._port),
            self._timeout_s,
        )
        try:
            if self._password is not None:
                auth = (self._username, self._password) if self._username else (self._password,)
                await _ask(replies, "AUTH", *auth)
            if self._db:
                await _ask(replies, "SELECT", self._db)
        except BaseException:
            replies.close()
            raise
        self._replies = replies
        return replies

    def close(self) -> None:
        replies, self._replies = self._replies, None
        # A closed loop took its connections with it.
        if replies is not None and self._loop is not None and not self._loop.is_closed():
            replies.close()
