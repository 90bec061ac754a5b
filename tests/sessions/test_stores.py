"""Both session stores behave alike: in this process and in Redis."""

from __future__ import annotations

import gc
import random
import uuid
from collections.abc import Iterator

import pytest
import redis

from recommender.activity.actions import ServiceAction
from recommender.sessions import SessionStore, local, shared
from recommender.sessions.events import (
    Recent,
    current_session,
    recent,
    session_event,
    visitor_keys,
)
from recommender.sessions.local import LocalSessions
from recommender.sessions.shared import RedisSessions
from tests.integration.conftest import redis_url

GAP = 1800.0


def action(
    id: int,
    service: int,
    at: float,
    *,
    browser: str = "b1",
    user: int | None = None,
    ordered: bool = False,
) -> ServiceAction:
    return ServiceAction(
        id=id, unique_id=browser, user_id=user, service_id=service, at=at, ordered=ordered
    )


@pytest.fixture
def redis_place() -> Iterator[tuple[str, str]]:
    """A Redis database and a key prefix of the test's own (so parallel runs on the same
    database never meet), emptied afterwards."""
    url, prefix = redis_url(), f"test-{uuid.uuid4().hex}:"
    yield url, prefix
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Iterator[SessionStore]:
    if request.param == "local":
        yield LocalSessions(gap_s=GAP, max_visitors=1000, max_events=5)
        return
    url, prefix = request.getfixturevalue("redis_place")
    shared = RedisSessions(url, gap_s=GAP, max_events=5, prefix=prefix)
    yield shared
    shared.close()


def test_what_a_browser_opened_is_its_session(store: SessionStore) -> None:
    store.add([action(1, 10, 100.0), action(2, 11, 200.0)])
    assert store.recent("b1", None, 250.0).session == (10, 11)
    assert store.recent("b2", None, 250.0).session == ()
    assert store.recent("b1", None, 200.0 + GAP + 1).session == ()


def test_an_action_stored_twice_is_remembered_once(store: SessionStore) -> None:
    store.add([action(1, 10, 100.0)])
    store.add([action(1, 10, 100.0), action(2, 12, 110.0)])
    assert store.recent("b1", None, 120.0).session == (10, 12)


def test_a_user_s_session_follows_them_across_browsers_and_orders_stay(
    store: SessionStore,
) -> None:
    store.add([action(1, 10, 100.0, browser="phone", user=7)])
    store.add([action(2, 11, 150.0, browser="laptop", user=7, ordered=True)])
    seen = store.recent("laptop", 7, 200.0)
    assert seen.session == (10, 11)
    assert seen.orders == frozenset({11})
    # Long after the session, the order is still never shown again.
    later = store.recent("laptop", 7, 200.0 + 10 * GAP)
    assert later.session == () and later.orders == frozenset({11})


def test_only_the_latest_actions_are_kept(store: SessionStore) -> None:
    store.add([action(i, 100 + i, float(i)) for i in range(1, 9)])
    assert store.recent("b1", None, 10.0).session == (104, 105, 106, 107, 108)


def test_orders_read_from_the_store_at_start_count(store: SessionStore) -> None:
    store.add_orders([(3, 30), (3, 31)])
    assert store.recent("any", 3, 0.0).orders == frozenset({30, 31})


@pytest.mark.anyio
async def test_the_request_path_reads_and_writes_the_same(store: SessionStore) -> None:
    await store.add_async([action(1, 10, 100.0, user=4, ordered=True)])
    seen = await store.recent_async("b1", 4, 101.0)
    assert seen.session == (10,) and seen.orders == frozenset({10})


def test_without_sessions_only_orders_are_kept() -> None:
    store = LocalSessions(gap_s=GAP, max_visitors=10, max_events=5, enabled=False)
    store.add([action(1, 10, 100.0, user=2, ordered=True), action(2, 11, 101.0)])
    seen = store.recent("b1", 2, 102.0)
    assert seen.session == () and seen.orders == frozenset({10})


def test_the_least_recent_visitors_are_forgotten_first() -> None:
    store = LocalSessions(gap_s=GAP, max_visitors=2, max_events=5)
    for i, browser in enumerate(["a", "b", "c"], start=1):
        store.add([action(i, 10 + i, float(i), browser=browser)])
    assert store.recent("a", None, 5.0).session == ()
    assert store.recent("c", None, 5.0).session == (13,)


def test_a_visitor_who_keeps_acting_is_kept_while_others_come_and_go() -> None:
    store = LocalSessions(gap_s=GAP, max_visitors=10, max_events=3)
    for i in range(1, 200):
        browser = "regular" if i % 4 == 0 else f"passing-{i}"
        store.add([action(i, i, float(i), browser=browser)])
    assert store.recent("regular", None, 200.0).session == (188, 192, 196)
    assert store.recent("passing-1", None, 200.0).session == ()
    # Never more than the visitors asked for: at most 10 of the 150 who passed are kept.
    kept = [i for i in range(1, 200) if store.recent(f"passing-{i}", None, 200.0).session]
    assert 0 < len(kept) <= 10 and kept[-1] == 199


def test_kept_sessions_leave_the_garbage_collector_nothing_to_walk() -> None:
    """A full collection stops the event loop for as long as it walks the objects it tracks;
    the events of thousands of visitors add none of them, only the views read lately do."""
    store = LocalSessions(gap_s=GAP, max_visitors=10_000, max_events=5)
    gc.collect()
    before = len(gc.get_objects())
    for i in range(1, 10_001):
        store.add([action(i, i % 500, float(i), browser=f"v{i % 2000}", user=i % 3 or None)])
    store.add_orders((user, service) for user in range(1, 1000) for service in (1, 2))
    # Each collection lets go of one more level of nested tuples.
    for _ in range(4):
        gc.collect()
    assert len(gc.get_objects()) - before < 100
    assert store.recent("v7", 1, 10_001.0).session


def test_views_read_as_serving_reads_them_leave_the_collector_two_objects_each() -> None:
    """Views read lately are kept: a run merged from a browser's and a user's events and
    what the view excludes add nothing the collector walks, only the view and its `Recent`
    do."""
    store = LocalSessions(gap_s=GAP, max_visitors=10_000, max_events=20)
    users = 200
    for i in range(1, 4_001):
        visitor, turn = i % users + 1, i // users % 3
        # Each user acts in two browsers in turn, and their first browser is also used
        # without logging in: its view merges events the user's key does not hold.
        browser = f"{'aba'[turn]}{visitor}"
        user = None if turn == 2 else visitor
        store.add([action(i, i, float(i), browser=browser, user=user)])
    settled = 4  # each collection lets go of one more level of nested tuples
    for _ in range(settled):
        gc.collect()
    before = len(gc.get_objects())
    for user in range(1, users + 1):
        seen = store.recent(f"a{user}", user, 4_001.0)
        assert len(seen.session) == 20 and not seen.ordered
        assert len(seen.excluded) == 20
    for _ in range(settled):
        gc.collect()
    assert len(gc.get_objects()) - before <= 2 * users + 50


def test_users_who_have_not_acted_share_their_browser_s_view() -> None:
    """Logged in as anyone who has not acted yet, a browser's visitor sees the browser's
    session, read from the one view of it: no view is built or held per user."""
    store = LocalSessions(gap_s=GAP, max_visitors=100, max_events=5)
    store.add([action(1, 10, 100.0, browser="b1"), action(2, 11, 101.0, browser="b1")])
    alone = store.recent("b1", None, 102.0)
    assert alone.session == (10, 11)
    assert all(store.recent("b1", user, 102.0) is alone for user in range(1, 500))
    store.add([action(3, 12, 103.0, browser="b1")])
    assert store.recent("b1", 42, 104.0).session == (10, 11, 12)


@pytest.mark.anyio
async def test_without_redis_serving_goes_on_without_sessions() -> None:
    # Nothing listens on this port: every call fails fast and answers "no session".
    store = RedisSessions("redis://127.0.0.1:1/0", gap_s=GAP, max_events=5)
    store.add([action(1, 10, 100.0, user=1, ordered=True)])
    await store.add_async([action(2, 11, 101.0)])
    store.add_orders([(1, 10)])
    assert store.recent("b1", 1, 102.0).session == ()
    assert (await store.recent_async("b1", 1, 102.0)).orders == frozenset()
    store.close()


def test_a_session_read_again_shows_every_action_added_since(store: SessionStore) -> None:
    store.add([action(1, 10, 100.0)])
    assert store.recent("b1", None, 101.0).session == (10,)
    store.add([action(2, 11, 102.0)])
    assert store.recent("b1", None, 103.0).session == (10, 11)
    # Logged in: the user's key joins the browser's, and what the user did elsewhere counts.
    store.add([action(3, 12, 104.0, browser="b2", user=7)])
    assert store.recent("b1", 7, 105.0).session == (10, 11, 12)
    assert store.recent("b1", None, 105.0).session == (10, 11)
    # The same run, read after the gap: over.
    assert store.recent("b1", None, 102.0 + GAP + 1).session == ()


def test_a_visitor_forgotten_and_seen_again_starts_afresh() -> None:
    store = LocalSessions(gap_s=GAP, max_visitors=1, max_events=5)
    store.add([action(1, 10, 100.0, browser="a")])
    assert store.recent("a", None, 101.0).session == (10,)
    store.add([action(2, 11, 102.0, browser="b")])  # "a" is forgotten
    store.add([action(3, 12, 103.0, browser="a")])
    assert store.recent("a", None, 104.0).session == (12,)


def assert_views_are_latest_runs(
    store: LocalSessions, kept: dict[str, list[ServiceAction]], now: float
) -> None:
    for browser, user in [("a", None), ("b", None), ("a", 1), ("b", 2)]:
        together = [
            session_event(e) for key in visitor_keys(browser, user) for e in kept.get(key, [])
        ]
        expected = recent(current_session(together, now, 10.0), ())
        seen = store.recent(browser, user, now)
        assert (seen.session, seen.session_orders) == (expected.session, expected.session_orders)


@pytest.mark.parametrize("views", [local.MAX_VIEWS, 1])
@pytest.mark.parametrize("arrival", ["any order", "mostly in time order"])
def test_a_browser_s_view_follows_every_order_of_arrival(
    arrival: str, views: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events arriving in any order, again, or past the kept number are seen exactly as the
    latest run of the kept events (the latest in time), for a browser alone and together with
    a user. Arriving in time order, a long session lets its oldest events go one by one.
    With one view kept, every read builds its view again from the events."""
    monkeypatch.setattr(local, "MAX_VIEWS", views)
    rng = random.Random(5)
    in_order = arrival == "mostly in time order"
    for _ in range(200):
        store = LocalSessions(gap_s=10.0, max_visitors=100, max_events=6)
        kept: dict[str, list[ServiceAction]] = {}
        # An action sent again (the refresh thread reads back what the API stored) is the
        # same action.
        sent: dict[int, ServiceAction] = {}
        clock = 0.0
        for _ in range(rng.randint(1, 30)):
            number = rng.randint(1, 40 if in_order else 15)
            if in_order:
                clock += rng.choice([0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 12.0, -3.0])
            event = sent.setdefault(
                number,
                action(
                    number,
                    rng.randint(1, 12 if in_order else 5),
                    clock if in_order else float(rng.randint(0, 60)),
                    browser=rng.choice(["a", "b"]),
                    user=rng.choice([None, 1, 1, 2]),
                    ordered=rng.random() < 0.2,
                ),
            )
            store.add([event])
            for key in visitor_keys(event.unique_id, event.user_id):
                events = kept.setdefault(key, [])
                if all(e.id != event.id for e in events):
                    events[:] = sorted([*events, event], key=lambda e: (e.at, e.id))[-6:]
            if in_order:
                assert_views_are_latest_runs(store, kept, clock)
        assert_views_are_latest_runs(store, kept, clock if in_order else 70.0)


def test_an_unchanged_session_read_again_ends_after_the_gap(store: SessionStore) -> None:
    store.add([action(1, 10, 100.0, user=5)])
    for at in (101.0, 102.0, 100.0 + GAP):
        assert store.recent("b1", 5, at).session == (10,)
    assert store.recent("b1", 5, 100.0 + GAP + 1).session == ()
    store.add([action(2, 11, 100.0 + GAP + 2)])
    assert store.recent("b1", 5, 100.0 + GAP + 3).session == (11,)


@pytest.mark.redis
@pytest.mark.anyio
async def test_reads_go_on_after_redis_forgot_its_scripts(redis_place: tuple[str, str]) -> None:
    """A restarted Redis knows no scripts: each call sends its script again and answers."""
    url, prefix = redis_place
    store = RedisSessions(url, gap_s=GAP, max_events=5, prefix=prefix)
    store.add([action(1, 10, 100.0, user=3, ordered=True)])
    assert store.recent("b1", 3, 101.0).session == (10,)
    store._sync.script_flush()
    await store.add_async([action(2, 11, 102.0)])
    seen = await store.recent_async("b1", 3, 103.0)
    assert seen.session == (10, 11) and seen.orders == frozenset({10})
    store._sync.script_flush()
    store.add([action(3, 12, 104.0)])
    assert store.recent("b1", None, 105.0).session == (10, 11, 12)
    store.close()


@pytest.mark.redis
@pytest.mark.anyio
async def test_an_action_added_again_leaves_the_session_s_version(
    redis_place: tuple[str, str],
) -> None:
    """Every API process's refresh adds again what another one stored: that must not make
    every process read the visitor's events again."""
    url, prefix = redis_place
    store = RedisSessions(url, gap_s=GAP, max_events=5, prefix=prefix)
    client = redis.Redis.from_url(url)
    versions = [f"{prefix}v:b:b1", f"{prefix}v:u:4"]
    await store.add_async([action(1, 10, 100.0, user=4)])
    first = client.mget(versions)
    store.add([action(1, 10, 100.0, user=4)])
    await store.add_async([action(1, 10, 100.0, user=4)])
    assert client.mget(versions) == first
    store.add([action(2, 11, 101.0, user=4)])
    later = client.mget(versions)
    assert all(int(b) > int(a) for a, b in zip(first, later, strict=True))
    assert store.recent("b1", 4, 102.0).session == (10, 11)
    client.close()
    store.close()


@pytest.mark.redis
@pytest.mark.parametrize("remembered", [3, shared.DECODED_EVENTS])
def test_events_decoded_before_read_back_as_stored(
    redis_place: tuple[str, str], remembered: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key's events are read whole again after each action; those this process decoded
    before (however few it remembers) are the same events."""
    monkeypatch.setattr(shared, "DECODED_EVENTS", remembered)
    url, prefix = redis_place
    store = RedisSessions(url, gap_s=GAP, max_events=5, prefix=prefix)
    other = RedisSessions(url, gap_s=GAP, max_events=5, prefix=prefix)
    for i in range(1, 9):
        other.add([action(i, 100 + i, float(i), user=7, ordered=i % 3 == 0)])
        expected = tuple(100 + j for j in range(max(1, i - 4), i + 1))
        assert store.recent("b1", 7, i + 0.5).session == expected
        assert store.recent("b1", None, i + 0.5).session == expected
    store.close()
    other.close()


@pytest.mark.redis
@pytest.mark.anyio
async def test_without_sessions_redis_keeps_only_orders(redis_place: tuple[str, str]) -> None:
    url, prefix = redis_place
    store = RedisSessions(url, gap_s=GAP, max_events=5, enabled=False, prefix=prefix)
    store.add([action(1, 10, 100.0, user=2, ordered=True), action(2, 11, 101.0)])
    await store.add_async([action(3, 12, 102.0, user=2, ordered=True)])
    seen = await store.recent_async("b1", 2, 103.0)
    assert seen.session == () and seen.orders == frozenset({10, 12})
    assert store.recent("b1", None, 103.0) == Recent()
    client = redis.Redis.from_url(url)
    assert not list(client.scan_iter(f"{prefix}s:*"))
    client.close()
    store.close()
