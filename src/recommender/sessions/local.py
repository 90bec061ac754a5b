"""Sessions kept in this process: the embedded default, when no Redis is configured."""

from __future__ import annotations

import threading
from bisect import bisect
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from recommender.activity.actions import ServiceAction
from recommender.sessions.events import (
    AT,
    NOBODY,
    ORDERED,
    SERVICE,
    Recent,
    SessionEvent,
    recent,
    run_ending,
    service_of,
    session_event,
    still_going,
    visitor_keys,
)

# Visitors whose session is kept built as serving reads it: those asking right now. The
# events of every kept visitor are plain tuples, which the garbage collector does not walk;
# a built view is a few objects it does walk, so their number is bounded on its own.
MAX_VIEWS = 10_000

# A key's version, its latest events in time order, and where their latest run starts.
_Kept = tuple[int, tuple[SessionEvent, ...], int]


@dataclass(frozen=True, slots=True)
class _View:
    """A visitor's latest run of events as serving reads it, for the versions of the keys
    with events it was built from."""

    stamp: tuple[int, ...]
    run: tuple[SessionEvent, ...]
    recent: Recent


def _run_start(events: Sequence[SessionEvent], gap_s: float) -> int:
    """Where the latest run of `events` (in time order, each once) starts."""
    start = len(events) - 1
    while start > 0 and events[start][AT] - events[start - 1][AT] <= gap_s:
        start -= 1
    return max(start, 0)


def _with(kept: _Kept | None, event: SessionEvent, max_events: int, gap_s: float) -> _Kept | None:
    """The key's events with `event` in its place in time, the oldest let go past
    `max_events`; None when nothing changes (the event is held already, or it is older than
    every event of a full key). The version is left for the caller to set."""
    version, events, start = kept if kept is not None else (0, (), 0)
    if events and event <= events[-1]:
        if event in events:
            return None
        at = bisect(events, event)
        if at == 0 and len(events) >= max_events:
            return None
        events = (*events[:at], event, *events[at:])
        start = _run_start(events, gap_s)
    else:
        # Nearly every event is later than the rest: the run goes on, or a new one starts.
        if events and event[AT] - events[-1][AT] > gap_s:
            start = len(events)
        events = (*events, event)
    if len(events) > max_events:
        events, start = events[1:], max(start - 1, 0)
    return version, events, start


def _without_first(view: _View) -> _View:
    """`view` without the first event of its run: what is left is still the latest run of
    what is left, since whatever came before that event came more than a gap before it."""
    first, rest = view.run[0], view.run[1:]
    seen = view.recent
    service = first[SERVICE]
    # A service's place in the session is its latest use, so only its last use moves it.
    used_later = service in map(service_of, rest)
    session = seen.session if used_later else _without(seen.session, service)
    ordered = seen.session_orders
    if first[ORDERED] and not any(e[ORDERED] and e[SERVICE] == service for e in rest):
        ordered = ordered - {service}
    return _View(view.stamp, rest, Recent(session, ordered))


def _without(services: tuple[int, ...], service: int) -> tuple[int, ...]:
    if service not in services:
        return services
    at = services.index(service)
    return services[:at] + services[at + 1 :]


def _extended(view: _View, event: SessionEvent, version: int, gap_s: float) -> _View:
    """`view` with a later `event`: the same run one event longer, or a new run."""
    if not view.run or event[AT] - view.run[-1][AT] > gap_s:
        return _View((version,), (event,), recent((event,), ()))
    seen = view.recent
    service = event[SERVICE]
    session = (*_without(seen.session, service), service)
    ordered = seen.session_orders | {service} if event[ORDERED] else seen.session_orders
    return _View((version,), (*view.run, event), Recent(session, ordered))


class _Generations:
    """At most `capacity` keys' values, forgetting those used least lately first, half of
    the capacity at a time: keys used since the last turn live in a young dict, the others in
    an old one, which is dropped whole when the young one is full and takes its place. Plain
    dicts of plain tuples, which the garbage collector stops tracking: an ordered dict of
    every visitor is itself walked, entry by entry, by every full collection."""

    __slots__ = ("_half", "_keeps_old", "_old", "_young")

    def __init__(self, capacity: int) -> None:
        self._young: dict[str, _Kept] = {}
        self._old: dict[str, _Kept] = {}
        self._half = max(capacity // 2, 1)
        self._keeps_old = capacity > 1

    def get(self, key: str) -> _Kept | None:
        found = self._young.get(key)
        return found if found is not None else self._old.get(key)

    def put(self, key: str, value: _Kept) -> None:
        """Set a key's value; it counts as used now."""
        if key not in self._young:
            self._old.pop(key, None)
            if len(self._young) >= self._half:
                self._old = self._young if self._keeps_old else {}
                self._young = {}
        self._young[key] = value


class LocalSessions:
    """Sessions of at most `max_visitors` visitors (the least lately active are forgotten
    first), `max_events` actions each (the latest in time), plus every user's orders; safe
    to use from the event loop and the refresh thread at once."""

    def __init__(
        self, *, gap_s: float, max_visitors: int, max_events: int, enabled: bool = True
    ) -> None:
        self.gap_s = gap_s
        self.enabled = enabled
        self._max_events = max_events
        self._visitors = _Generations(max_visitors)
        # Services each user ordered, as tuples for the same reason as the events.
        self._orders: dict[int, tuple[int, ...]] = {}
        # A key's version: a tick of one counter, so a forgotten key seen again never comes
        # back with a version a view was built from.
        self._tick = 0
        # Built views by the keys they were asked for (a browser, or a browser and a user).
        self._views: OrderedDict[tuple[str, ...], _View] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, events: Sequence[ServiceAction]) -> None:
        """Remember stored actions; an action already remembered is not counted twice."""
        with self._lock:
            for action in events:
                if action.ordered and action.user_id is not None:
                    have = self._orders.get(action.user_id, ())
                    if action.service_id not in have:
                        self._orders[action.user_id] = (*have, action.service_id)
                if self.enabled:
                    event = session_event(action)
                    for key in visitor_keys(action.unique_id, action.user_id):
                        self._remember(key, event)

    def _remember(self, key: str, event: SessionEvent) -> None:
        kept = self._visitors.get(key)
        changed = _with(kept, event, self._max_events, self.gap_s)
        if changed is None:
            if kept is not None:
                self._visitors.put(key, kept)
            return
        self._tick += 1
        _, events, start = changed
        self._visitors.put(key, (self._tick, events, start))
        if kept is not None:
            self._follow(key, kept, event)

    def _follow(self, key: str, kept: _Kept, event: SessionEvent) -> None:
        """Keep a built view of the key alone current when `event` came after the rest, as
        nearly every one does, instead of building it again at the next read."""
        view = self._views.get((key,))
        version, events, start = kept
        if view is None or view.stamp != (version,) or event <= events[-1]:
            return
        if len(events) == self._max_events and start == 0:
            # A full session's oldest event gives way to the newest, as it does on every
            # action of a long session.
            view = _without_first(view)
        self._views[(key,)] = _extended(view, event, self._tick, self.gap_s)

    def add_orders(self, pairs: Iterable[tuple[int, int]]) -> None:
        """(user, service) orders read from the store at start."""
        with self._lock:
            # Gathered in sets first: a user with thousands of orders would otherwise cost a
            # scan and a copy of the tuple per order.
            gathered: dict[int, set[int]] = {}
            for user_id, service_id in pairs:
                have = gathered.get(user_id)
                if have is None:
                    have = gathered[user_id] = set(self._orders.get(user_id, ()))
                have.add(service_id)
            for user_id, services in gathered.items():
                self._orders[user_id] = tuple(services)

    async def add_async(self, events: Sequence[ServiceAction]) -> None:
        self.add(events)

    def recent(self, unique_id: str, user_id: int | None, now: float) -> Recent:
        with self._lock:
            orders = frozenset(self._orders.get(user_id, ())) if user_id is not None else None
            if not self.enabled:
                return NOBODY if not orders else Recent(orders=orders)
            view = self._view(visitor_keys(unique_id, user_id))
        seen = (
            view.recent if view is not None and still_going(view.run, now, self.gap_s) else NOBODY
        )
        return Recent(seen.session, seen.session_orders, orders) if orders else seen

    def _view(self, keys: tuple[str, ...]) -> _View | None:
        """The visitor's latest run over their keys, built again only once one changed."""
        # A key without events adds nothing: the view is that of the others, the one
        # `_follow` keeps current, not one more view to build and hold (a logged-in user who
        # has not acted yet, in a browser that has).
        found = [(key, k) for key in keys if (k := self._visitors.get(key)) is not None]
        if not found:
            return None
        keys = tuple(key for key, _ in found)
        kept = [k for _, k in found]
        stamp = tuple(k[0] for k in kept)
        view = self._views.get(keys)
        if view is not None and view.stamp == stamp:
            self._views.move_to_end(keys)
            return view
        run = self._run(kept)
        view = self._views[keys] = _View(stamp, run, recent(run, ()))
        while len(self._views) > MAX_VIEWS:
            self._views.popitem(last=False)
        return view

    def _run(self, kept: list[_Kept]) -> tuple[SessionEvent, ...]:
        """The latest run of one key's events, or of two keys' together: that of the key
        holding every event of the other (a user in one browser), else of both merged."""
        if len(kept) == 1:
            _, events, start = kept[0]
            return events[start:]
        (_, first, first_start), (_, second, second_start) = kept
        if first == second or set(second).issubset(first):
            return first[first_start:]
        if set(first).issubset(second):
            return second[second_start:]
        return run_ending(sorted(first + second), self.gap_s)

    async def recent_async(self, unique_id: str, user_id: int | None, now: float) -> Recent:
        return self.recent(unique_id, user_id, now)

    def close(self) -> None:
        return None
