"""The current session among a visitor's actions on services, and what serving reads of it."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter
from typing import Any

from recommender.activity.actions import ServiceAction


@dataclass(frozen=True)
class Recent:
    """What serving needs about a visitor besides the catalogue: the services of the current
    session, oldest first, and every service the user ever ordered."""

    session: tuple[int, ...] = ()
    session_orders: frozenset[int] = frozenset()
    orders: frozenset[int] = frozenset()
    # What serving derives from this view (catalogue positions, say), kept as long as the
    # view: one view answers a visitor's requests until they act again.
    derived: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ordered(self) -> frozenset[int]:
        """What the visitor ordered, in this session or ever: never shown again."""
        return self.session_orders | self.orders

    @cached_property
    def excluded(self) -> frozenset[int]:
        """What the session opened or ordered, and the user's orders."""
        return frozenset(self.session) | self.ordered


NOBODY = Recent()


def visitor_keys(unique_id: str, user_id: int | None) -> tuple[str, ...]:
    """The names a visitor's session is kept under: the browser always, the user when known,
    so a session follows a user across browsers and an anonymous browser alike."""
    if user_id is None:
        return (f"b:{unique_id}",)
    return (f"b:{unique_id}", f"u:{user_id}")


def current_session(events: Iterable[ServiceAction], now: float, gap: float) -> list[ServiceAction]:
    """The events of the session still going at `now`: the latest run of events without a
    silence longer than `gap`, provided the last of them is at most `gap` before `now`."""
    run = latest_run(events, gap)
    return run if still_going(run, now, gap) else []


_WHEN = attrgetter("at", "id")
# The service an event is on (for `map`, which runs it without a Python loop).
service_of = attrgetter("service_id")


def latest_run(events: Iterable[ServiceAction], gap: float) -> list[ServiceAction]:
    """The latest run of events without a silence longer than `gap`, oldest first (each
    event once), whether or not it is still going."""
    # Sorted by (time, id), the same action kept under two keys lies next to itself; only
    # the run is walked, since serving rebuilds this whenever a visitor acts.
    run: list[ServiceAction] = []
    later: ServiceAction | None = None
    for event in sorted(events, key=_WHEN, reverse=True):
        if later is not None:
            if event.id == later.id:
                continue
            if later.at - event.at > gap:
                break
        run.append(event)
        later = event
    run.reverse()
    return run


def still_going(run: Sequence[ServiceAction], now: float, gap: float) -> bool:
    return bool(run) and now - run[-1].at <= gap


def recent(session: Sequence[ServiceAction], orders: Iterable[int]) -> Recent:
    """Serving's view of a session: services once each at their latest use, oldest first."""
    services = list(map(service_of, session))
    return Recent(
        session=tuple(dict.fromkeys(reversed(services)))[::-1],
        session_orders=frozenset(e.service_id for e in session if e.ordered),
        orders=frozenset(orders),
    )
