from __future__ import annotations

from recommender.activity.actions import ServiceAction
from recommender.sessions.events import (
    ID,
    Recent,
    SessionEvent,
    current_session,
    recent,
    session_event,
    visitor_keys,
)

GAP = 1800.0


def action(id: int, service: int, at: float, ordered: bool = False) -> SessionEvent:
    return session_event(
        ServiceAction(
            id=id, unique_id="b", user_id=None, service_id=service, at=at, ordered=ordered
        )
    )


def test_the_current_session_is_the_last_run_without_a_long_silence() -> None:
    events = [action(1, 10, 0.0), action(2, 11, 4000.0), action(3, 12, 5000.0)]
    assert [e[ID] for e in current_session(events, 5100.0, GAP)] == [2, 3]


def test_a_session_silent_for_longer_than_the_gap_is_over() -> None:
    events = [action(1, 10, 0.0), action(2, 11, 100.0)]
    assert current_session(events, 100.0 + GAP + 1, GAP) == ()
    assert len(current_session(events, 100.0 + GAP, GAP)) == 2


def test_the_same_action_twice_counts_once_and_order_is_by_time() -> None:
    events = [action(2, 11, 20.0), action(1, 10, 10.0), action(2, 11, 20.0)]
    assert [e[ID] for e in current_session(events, 30.0, GAP)] == [1, 2]


def test_serving_sees_each_service_once_at_its_latest_use() -> None:
    session = [action(1, 10, 1.0), action(2, 11, 2.0), action(3, 10, 3.0, ordered=True)]
    view = recent(session, orders=[99])
    assert view.session == (11, 10)
    assert view.session_orders == frozenset({10})
    assert view.excluded == frozenset({10, 11, 99})
    assert Recent().excluded == frozenset()


def test_a_logged_in_visitor_is_known_by_browser_and_user() -> None:
    assert visitor_keys("b", None) == ("b:b",)
    assert visitor_keys("b", 7) == ("b:b", "u:7")
