"""Sessions kept in this process: the embedded default, when no Redis is configured."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from recommender.activity.actions import ServiceAction
from recommender.sessions.events import (
    NOBODY,
    Recent,
    latest_run,
    recent,
    service_of,
    still_going,
    visitor_keys,
)


@dataclass(frozen=True)
class _View:
    """A visitor's latest run of events as serving reads it, for the versions of their keys
    it was built from."""

    stamp: tuple[int, ...]
    run: list[ServiceAction]
    recent: Recent


class _Visitor:
    """One key's latest events, their ids, and its view, kept up to date as events come:
    an event later than the rest (nearly all of them) extends the view instead of sorting
    the events again, which serving would otherwise do after every action."""

    __slots__ = ("events", "ids", "view")

    def __init__(self, max_events: int) -> None:
        self.events: deque[ServiceAction] = deque(maxlen=max_events)
        self.ids: set[int] = set()
        self.view: _View | None = None

    def add(self, event: ServiceAction, version: int, gap_s: float) -> None:
        events = self.events
        oldest = events[0] if len(events) == events.maxlen else None
        if oldest is not None:
            self.ids.discard(oldest.id)
        events.append(event)
        self.ids.add(event.id)
        view = self.view
        if view is not None and _when(event) > _when(view.run[-1]):
            if oldest is None or _when(oldest) < _when(view.run[0]):
                # The event the deque let go of, if any, was no part of the run.
                self.view = _extended(view, event, version, gap_s)
                return
            if oldest is view.run[0]:
                # A full session's oldest event gives way to the newest, as it does on every
                # action of a long session.
                self.view = _extended(_without_first(view), event, version, gap_s)
                return
        run = latest_run(events, gap_s)
        self.view = _View((version,), run, recent(run, ()))


def _when(event: ServiceAction) -> tuple[float, int]:
    """Where an event sorts in a run (as `latest_run` orders them)."""
    return (event.at, event.id)


def _without_first(view: _View) -> _View:
    """`view` without the first event of its run: what is left is still the latest run of
    what is left, since whatever came before that event came more than a gap before it."""
    first, rest = view.run[0], view.run[1:]
    seen = view.recent
    service = first.service_id
    # A service's place in the session is its latest use, so only its last use moves it.
    used_later = service in map(service_of, rest)
    session = seen.session if used_later else _without(seen.session, service)
    ordered = seen.session_orders
    if first.ordered and not any(e.ordered and e.service_id == service for e in rest):
        ordered = ordered - {service}
    return _View(view.stamp, rest, Recent(session, ordered))


def _without(services: tuple[int, ...], service: int) -> tuple[int, ...]:
    if service not in services:
        return services
    at = services.index(service)
    return services[:at] + services[at + 1 :]


def _extended(view: _View, event: ServiceAction, version: int, gap_s: float) -> _View:
    """`view` with a later `event`: the same run one event longer, or a new run."""
    if not view.run or event.at - view.run[-1].at > gap_s:
        return _View((version,), [event], recent([event], ()))
    seen = view.recent
    service = event.service_id
    session = (*_without(seen.session, service), service)
    ordered = seen.session_orders | {service} if event.ordered else seen.session_orders
    return _View((version,), [*view.run, event], Recent(session, ordered))


class LocalSessions:
    """Sessions of the most recent `max_visitors` visitors, `max_events` actions each, plus
    every user's orders; safe to use from the event loop and the refresh thread at once."""

    def __init__(
        self, *, gap_s: float, max_visitors: int, max_events: int, enabled: bool = True
    ) -> None:
        self.gap_s = gap_s
        self.enabled = enabled
        self._max_visitors = max_visitors
        self._max_events = max_events
        self._visitors: OrderedDict[str, _Visitor] = OrderedDict()
        self._orders: dict[int, set[int]] = {}
        # A key's version: a tick of one counter, so a forgotten key seen again never comes
        # back with a version a view was built from.
        self._tick = 0
        # Views of a browser and a user whose events differ (the same user in two browsers).
        self._merged: OrderedDict[tuple[str, ...], _View] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, events: Sequence[ServiceAction]) -> None:
        """Remember stored actions; an action already remembered is not counted twice."""
        with self._lock:
            for event in events:
                if event.ordered and event.user_id is not None:
                    self._orders.setdefault(event.user_id, set()).add(event.service_id)
                if self.enabled:
                    for key in visitor_keys(event.unique_id, event.user_id):
                        self._remember(key, event)

    def _remember(self, key: str, event: ServiceAction) -> None:
        visitor = self._visitors.get(key)
        if visitor is None:
            visitor = self._visitors[key] = _Visitor(self._max_events)
            while len(self._visitors) > self._max_visitors:
                self._visitors.popitem(last=False)
        else:
            self._visitors.move_to_end(key)
        if event.id not in visitor.ids:
            self._tick += 1
            visitor.add(event, self._tick, self.gap_s)

    def add_orders(self, pairs: Iterable[tuple[int, int]]) -> None:
        """(user, service) orders read from the store at start."""
        with self._lock:
            for user_id, service_id in pairs:
                self._orders.setdefault(user_id, set()).add(service_id)

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
        """The visitor's latest run over the keys that have events: one key's own view, or
        that of the key holding every event of the other (a user in one browser)."""
        found = [v for v in (self._visitors.get(key) for key in keys) if v is not None]
        if not found:
            return None
        if len(found) == 1:
            return found[0].view
        first, second = found
        if second.ids <= first.ids:
            return first.view
        if first.ids <= second.ids:
            return second.view
        return self._merged_view(keys, first, second)

    def _merged_view(self, keys: tuple[str, ...], first: _Visitor, second: _Visitor) -> _View:
        """The latest run of two keys' events together, rebuilt once either changes."""
        assert first.view is not None and second.view is not None
        stamp = first.view.stamp + second.view.stamp
        view = self._merged.get(keys)
        if view is None or view.stamp != stamp:
            run = latest_run([*first.events, *second.events], self.gap_s)
            view = self._merged[keys] = _View(stamp, run, recent(run, ()))
            while len(self._merged) > self._max_visitors:
                self._merged.popitem(last=False)
        else:
            self._merged.move_to_end(keys)
        return view

    async def recent_async(self, unique_id: str, user_id: int | None, now: float) -> Recent:
        return self.recent(unique_id, user_id, now)

    def close(self) -> None:
        return None
