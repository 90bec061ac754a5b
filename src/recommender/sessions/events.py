"""The current session among a visitor's actions on services, and what serving reads of it."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
from typing import Any, Final

from recommender.activity.actions import ServiceAction

# The one empty set of services views share: each set is an object the garbage collector
# walks, and most views have no orders.
NO_SERVICES: Final[frozenset[int]] = frozenset()


@dataclass(frozen=True, slots=True)
class Recent:
    """What serving needs about a visitor besides the catalogue: the services of the current
    session, oldest first, and every service the user ever ordered."""

    session: tuple[int, ...] = ()
    session_orders: frozenset[int] = NO_SERVICES
    orders: frozenset[int] = NO_SERVICES
    # What serving derives from this view (catalogue positions, say), kept as long as the
    # view: one view answers a visitor's requests until they act again.
    derived: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ordered(self) -> frozenset[int]:
        """What the visitor ordered, in this session or ever: never shown again."""
        return self.session_orders | self.orders

    @property
    def excluded(self) -> frozenset[int]:
        """What the session opened or ordered, and the user's orders.

        Worked out on each call, not kept: serving asks once per view and catalogue and keeps
        the positions (`derived`), and a set kept in every view cost each full collection of
        the garbage collector a visit per service in it."""
        return frozenset(self.session) | self.ordered


NOBODY = Recent()


def visitor_keys(unique_id: str, user_id: int | None) -> tuple[str, ...]:
    """The names a visitor's session is kept under: the browser always, the user when known,
    so a session follows a user across browsers and an anonymous browser alike."""
    if user_id is None:
        return (f"b:{unique_id}",)
    return (f"b:{unique_id}", f"u:{user_id}")


# A session's event as the stores keep it: (time, action id, service, ordered). A plain tuple
# of plain values, which the cyclic garbage collector stops tracking: a store keeps up to
# millions of them, and as objects of a class of their own every full collection walked them
# all while the event loop waited. Sorted as tuples they are in time order, ties by id.
SessionEvent = tuple[float, int, int, bool]
AT: Final = 0
ID: Final = 1
SERVICE: Final = 2
ORDERED: Final = 3
# The service an event is on (for `map`, which runs it without a Python loop).
service_of = itemgetter(SERVICE)


def session_event(action: ServiceAction) -> SessionEvent:
    return (action.at, action.id, action.service_id, action.ordered)


def current_session(
    events: Iterable[SessionEvent], now: float, gap: float
) -> tuple[SessionEvent, ...]:
    """The events of the session still going at `now`: the latest run of events without a
    silence longer than `gap`, provided the last of them is at most `gap` before `now`."""
    run = latest_run(events, gap)
    return run if still_going(run, now, gap) else ()


def latest_run(events: Iterable[SessionEvent], gap: float) -> tuple[SessionEvent, ...]:
    """The latest run of events without a silence longer than `gap`, oldest first (each
    event once), whether or not it is still going."""
    return run_ending(sorted(events), gap)


def run_ending(ordered: Sequence[SessionEvent], gap: float) -> tuple[SessionEvent, ...]:
    """The latest run of events already in time order; the same action twice, which lies next
    to itself there, counts once. Only the run is walked.

    A tuple, since stores keep runs in their views: a tuple of plain tuples drops out of the
    garbage collector's walks, where a list stays in them, element by element."""
    run: list[SessionEvent] = []
    later: SessionEvent | None = None
    for event in reversed(ordered):
        if later is not None:
            if event[ID] == later[ID]:
                continue
            if later[AT] - event[AT] > gap:
                break
        run.append(event)
        later = event
    return tuple(reversed(run))


def still_going(run: Sequence[SessionEvent], now: float, gap: float) -> bool:
    return bool(run) and now - run[-1][AT] <= gap


def recent(session: Sequence[SessionEvent], orders: Iterable[int]) -> Recent:
    """Serving's view of a session: services once each at their latest use, oldest first."""
    services = list(map(service_of, session))
    return Recent(
        session=tuple(dict.fromkeys(reversed(services)))[::-1],
        session_orders=frozenset(compress(services, map(_ordered, session))) or NO_SERVICES,
        orders=frozenset(orders) or NO_SERVICES,
    )


_ordered = itemgetter(ORDERED)
