"""Sessions kept in this process: the embedded default, when no Redis is configured."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence

from recommender.activity.actions import ServiceAction
from recommender.sessions.events import (
    NOBODY,
    Recent,
    current_session,
    recent,
    visitor_keys,
)


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
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        if all(e.id != event.id for e in kept):
            kept.append(event)

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
            events = [
                e for key in visitor_keys(unique_id, user_id) for e in self._events.get(key, ())
            ]
        return recent(current_session(events, now, self.gap_s), orders or ())

    async def recent_async(self, unique_id: str, user_id: int | None, now: float) -> Recent:
        return self.recent(unique_id, user_id, now)

    def close(self) -> None:
        return None
