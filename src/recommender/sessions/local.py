"""Sessions kept in this process: the embedded default, when no Redis is configured."""

from __future__ import annotations

import dataclasses
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
    still_going,
    visitor_keys,
)


@dataclass(frozen=True)
class _View:
    """A visitor's latest run of events as serving reads it, for the versions of their keys
    it was built from: rebuilt only once one of those keys gains an event."""

    stamp: tuple[int, ...]
    run: list[ServiceAction]
    recent: Recent


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
        self._events: OrderedDict[str, deque[ServiceAction]] = OrderedDict()
        self._orders: dict[int, set[int]] = {}
        # A key's version: a tick of one counter, so a forgotten key seen again never comes
        # back with a version a view was built from.
        self._versions: dict[str, int] = {}
        self._tick = 0
        self._views: OrderedDict[tuple[str, ...], _View] = OrderedDict()
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
        kept = self._events.get(key)
        if kept is None:
            kept = self._events[key] = deque(maxlen=self._max_events)
            while len(self._events) > self._max_visitors:
                forgotten, _ = self._events.popitem(last=False)
                self._versions.pop(forgotten, None)
        else:
            self._events.move_to_end(key)
        if all(e.id != event.id for e in kept):
            kept.append(event)
            self._tick += 1
            self._versions[key] = self._tick

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
        return dataclasses.replace(seen, orders=orders) if orders else seen

    def _view(self, keys: tuple[str, ...]) -> _View | None:
        """The visitor's latest run, sorted once per change rather than on every request.

        Kept under the keys that have events: a logged-in user who did nothing in another
        browser shares the view of the browser's own key."""
        keys = tuple(key for key in keys if key in self._versions)
        if not keys:
            return None
        stamp = tuple(self._versions[key] for key in keys)
        view = self._views.get(keys)
        if view is None or view.stamp != stamp:
            run = latest_run([e for key in keys for e in self._events.get(key, ())], self.gap_s)
            view = self._views[keys] = _View(stamp, run, recent(run, ()))
            while len(self._views) > self._max_visitors:
                self._views.popitem(last=False)
        else:
            self._views.move_to_end(keys)
        return view

    async def recent_async(self, unique_id: str, user_id: int | None, now: float) -> Recent:
        return self.recent(unique_id, user_id, now)

    def close(self) -> None:
        return None
