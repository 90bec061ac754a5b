"""The latest panels with what their visitors did next, as the dashboard lists them."""

from __future__ import annotations

from recommender.activity import actions, impressions
from recommender.activity.recent import recent_panels
from recommender.contract.user_actions import UserActionIn
from recommender.store.database import Database
from tests.factories import impression, user_action


def test_panels_come_newest_first_with_their_explanations_and_follow_ups(db: Database) -> None:
    with db.write() as conn:
        older = impressions.write(conn, impression(visit_id="visit-0"))
        newer = impressions.write(
            conn, impression(service_ids=[7, 8], explanations=["Because you used X", "Popular"])
        )
        click = user_action(recommendation_id=newer)
        order = user_action(
            timestamp="2026-11-27T10:02:00Z",
            # Every step of a journey carries its root, as the portal sends it.
            source={
                "visit_id": "visit-2",
                "page_id": "/services/1",
                "root": click["source"]["root"],
            },
            target={"visit_id": "visit-3", "page_id": "/services/1/offers"},
            action={"type": "button", "text": "Order", "order": True},
        )
        for body in (click, order):
            actions.record(conn, UserActionIn.model_validate(body))
    with db.engine.connect() as conn:
        first, second = recent_panels(conn, limit=10)
        assert recent_panels(conn, limit=1) == [first]
    assert (first.id, second.id) == (newer, older)
    assert first.service_ids == [7, 8]
    assert first.explanations == ["Because you used X", "Popular"]
    # The click on the panel, then the order later in the same journey.
    assert [(f.action_type, f.order) for f in first.follow_ups] == [
        ("button", False),
        ("button", True),
    ]
    assert first.follow_ups[0].service_id == 1
    assert second.follow_ups == []
