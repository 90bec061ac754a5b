"""The event loop's Redis connection: replies reach their own calls, failures end calls fast."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import hiredis
import pytest
import redis

from recommender.sessions.wire import Wire, WireError, _Replies, supports
from tests.integration.conftest import redis_url


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {}), id="asyncio"),
        # The server's loop: its transports differ from asyncio's own.
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    backend: tuple[str, dict[str, bool]] = request.param
    return backend


@pytest.fixture
def url() -> Iterator[str]:
    found = redis_url()
    yield found
    redis.Redis.from_url(found).flushdb()


@pytest.fixture
async def wire(url: str) -> AsyncIterator[Wire]:
    connection = Wire(url, timeout_s=2)
    yield connection
    connection.close()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def fake_server(handler: Handler) -> AsyncIterator[str]:
    """The URL of a server on loopback that answers as `handler` does."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    yield f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0"
    server.close()


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()
    writer.close()


async def answer_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.read(1024):
        writer.write(b"?not redis\r\n")
    writer.close()


def test_only_plain_tcp_urls_are_its_own() -> None:
    assert supports("redis://127.0.0.1:6379/3")
    assert not supports("rediss://cache.example.org:6380/0")
    assert not supports("unix:///run/redis.sock")
    assert not supports("redis://127.0.0.1:6379?db=3")


@pytest.mark.redis
@pytest.mark.anyio
async def test_concurrent_calls_each_get_their_own_reply(wire: Wire) -> None:
    keys = [f"k{i}" for i in range(300)]
    await asyncio.gather(*(wire.call("SET", key, key.upper()) for key in keys))
    replies = await asyncio.gather(*(wire.call("GET", key) for key in reversed(keys)))
    assert replies == [key.upper().encode() for key in reversed(keys)]


@pytest.mark.redis
@pytest.mark.anyio
async def test_it_uses_the_url_s_database(url: str, wire: Wire) -> None:
    await wire.call("SET", "mine", "yes")
    assert redis.Redis.from_url(url).get("mine") == b"yes"


@pytest.mark.redis
@pytest.mark.anyio
async def test_an_error_reply_raises_and_the_next_call_is_answered(wire: Wire) -> None:
    await wire.call("SET", "text", "abc")
    with pytest.raises(redis.ResponseError):
        await wire.call("INCR", "text")
    with pytest.raises(redis.exceptions.NoScriptError):
        await wire.call("EVALSHA", "0" * 40, 0)
    assert await wire.call("GET", "text") == b"abc"


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_closed_connection_fails_its_calls_and_the_next_call_connects_again(
    url: str, wire: Wire
) -> None:
    client_id = await wire.call("CLIENT", "ID")
    admin = redis.Redis.from_url(url)
    # Blocks until the connection is killed: the reply never comes.
    pending = asyncio.ensure_future(wire.call("BLPOP", "nothing-here", 0))
    await asyncio.sleep(0.05)
    admin.execute_command("CLIENT", "KILL", "ID", client_id)
    with pytest.raises(WireError):
        await pending
    assert await wire.call("PING") == b"PONG"


@pytest.mark.anyio
async def test_a_server_that_does_not_answer_fails_every_waiting_call() -> None:
    async with fake_server(never_answer) as url:
        silent = Wire(url, timeout_s=0.2)
        calls = [asyncio.ensure_future(silent.call("PING")) for _ in range(3)]
        outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
        assert all(isinstance(outcome, OSError) for outcome in outcomes)
        silent.close()


@pytest.mark.anyio
async def test_a_call_that_nobody_awaits_any_more_still_times_out_the_calls_before_it() -> None:
    async with fake_server(never_answer) as url:
        silent = Wire(url, timeout_s=0.2)
        calls = [asyncio.ensure_future(silent.call("PING")) for _ in range(3)]
        await asyncio.sleep(0.05)
        calls[-1].cancel()
        outcomes = await asyncio.wait_for(asyncio.gather(*calls[:-1], return_exceptions=True), 5)
        assert all(isinstance(outcome, OSError) for outcome in outcomes)
        silent.close()


class _RecordedWrites:
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        pass


@pytest.mark.anyio
async def test_the_commands_of_one_turn_of_the_event_loop_leave_in_one_write() -> None:
    replies = _Replies(timeout_s=2)
    transport = _RecordedWrites()
    replies.transport = transport
    commands = [hiredis.pack_command(("GET", f"key-{i}")) for i in range(3)]
    calls = [replies.send(command) for command in commands]
    assert transport.writes == []
    await asyncio.sleep(0)
    assert transport.writes == [b"".join(commands)]
    replies.data_received(b"$1\r\na\r\n$1\r\nb\r\n")
    replies.data_received(b"$1\r\nc\r\n")
    assert [await call for call in calls] == [b"a", b"b", b"c"]
    later = replies.send(commands[0])
    await asyncio.sleep(0)
    assert transport.writes == [b"".join(commands), commands[0]]
    replies.data_received(b"$1\r\nd\r\n")
    assert await later == b"d"
    replies.close()


@pytest.mark.anyio
async def test_nothing_listening_fails_fast_with_an_os_error() -> None:
    wire = Wire("redis://127.0.0.1:1/0", timeout_s=0.5)
    with pytest.raises(OSError):
        await wire.call("PING")


@pytest.mark.anyio
async def test_bytes_that_are_no_reply_fail_the_call() -> None:
    async with fake_server(answer_garbage) as url:
        garbled = Wire(url, timeout_s=2)
        with pytest.raises(WireError):
            await asyncio.wait_for(garbled.call("PING"), 5)
        garbled.close()


@pytest.mark.redis
@pytest.mark.anyio
async def test_it_logs_in_as_the_url_s_user(url: str) -> None:
    admin = redis.Redis.from_url(url)
    user, password = f"wire-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all"]
    )
    try:
        base = url.removeprefix("redis://")
        wire = Wire(f"redis://{user}:{password}@{base}", timeout_s=2)
        assert await wire.call("ACL", "WHOAMI") == user.encode()
        wire.close()
        wrong = Wire(f"redis://{user}:not-{password}@{base}", timeout_s=2)
        with pytest.raises(redis.ResponseError):
            await wrong.call("PING")
    finally:
        admin.acl_deluser(user)
