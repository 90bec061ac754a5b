from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recommender.activity import actions, impressions
from recommender.activity.journeys import (
    CATALOGUE_JOURNEY,
    PANEL_JOURNEY,
    ActionRecord,
    Journey,
    build_journeys,
    journey_reward,
    panel_rewards,
    read_journeys,
)
from recommender.contract.rewards import RewardValues
from recommender.contract.user_actions import UserActionIn
from recommender.store.database import Database

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
VALUES = RewardValues()
Root = tuple[str | None, str | None, int | None]


def panel(service_id: int, panel_id: str = "v1") -> Root:
    return ("recommendation_panel", panel_id, service_id)


def listed(service_id: int) -> Root:
    return ("other", None, service_id)


@dataclass
class Browser:
    """One browser's actions, built move by move; each move opens a new page visit."""

    unique_id: str = "browser-1"
    user_id: int | None = None
    first_id: int = 1
    actions: list[ActionRecord] = field(default_factory=list)
    visits: int = 0

    def move(
        self,
        source: tuple[str | None, str],
        target_page: str,
        *,
        root: Root,
        minute: float,
        order: bool = False,
        recommendation_id: int | None = None,
        user_id: int | None = None,
    ) -> tuple[str, str]:
        self.visits += 1
        visit = f"{self.unique_id}-visit-{self.visits}"
        self.actions.append(
            ActionRecord(
                id=self.first_id + len(self.actions),
                timestamp=T0 + timedelta(minutes=minute),
                unique_id=self.unique_id,
                user_id=user_id if user_id is not None else self.user_id,
                source_visit_id=source[0],
                source_page_id=source[1],
                target_visit_id=visit,
                target_page_id=target_page,
                root_type=root[0],
                root_panel_id=root[1],
                root_service_id=root[2],
                is_order=order,
                recommendation_id=recommendation_id,
            )
        )
        return visit, target_page


CATALOGUE_VISIT = ("list-visit", "/services")


def ordering_panel_journey(browser: Browser, recommendation_id: int = 7) -> None:
    """Click on service 25 in a panel, look at the offers, go through the summary, order."""
    root = panel(25)
    page = browser.move(
        CATALOGUE_VISIT,
        "/services/25",
        root=root,
        minute=1,
        recommendation_id=recommendation_id,
    )
    page = browser.move(page, "/services/25/offers", root=root, minute=2)
    page = browser.move(page, "/services/25/summary", root=root, minute=3)
    browser.move(page, "/projects/3", root=root, minute=4, order=True)


def only(journeys: list[Journey]) -> Journey:
    assert len(journeys) == 1, journeys
    return journeys[0]


def test_a_panel_click_that_goes_to_the_offers_and_orders_is_one_panel_journey() -> None:
    browser = Browser(user_id=5)
    ordering_panel_journey(browser)
    journey = only(build_journeys(browser.actions))
    assert journey.kind == PANEL_JOURNEY
    assert (journey.service_id, journey.recommendation_id, journey.panel_id) == (25, 7, "v1")
    assert (journey.unique_id, journey.user_id) == ("browser-1", 5)
    assert journey.visit_id == "list-visit"
    assert journey.ordered and not journey.partial
    assert journey.labels == ("mild_interest", "interest", "interest", "order")
    assert journey.parents == (-1, 0, 1, 2)
    assert journey.started_at == T0 + timedelta(minutes=1)
    assert journey.ended_at == T0 + timedelta(minutes=4)
    assert journey_reward(journey, VALUES) == pytest.approx(0.25 + 0.5 + 0.5 + 1.0)


def test_two_tabs_opened_from_one_service_page_are_branches_of_one_journey() -> None:
    browser = Browser()
    root = listed(25)
    service_page = browser.move(CATALOGUE_VISIT, "/services/25", root=root, minute=1)
    details = browser.move(service_page, "/services/25/details", root=root, minute=2)
    browser.move(service_page, "/services/25/offers", root=root, minute=3)
    browser.move(details, "/services/25/opinions", root=root, minute=4)
    journey = only(build_journeys(browser.actions))
    # Depth first: the details tab and what followed it, then the offers tab.
    assert journey.labels == ("mild_interest", "mild_interest", "mild_interest", "interest")
    assert journey.parents == (-1, 0, 1, 0)
    assert not journey.ordered


def test_a_click_on_the_catalogue_list_is_a_catalogue_journey_with_no_impression() -> None:
    browser = Browser(user_id=5)
    root = listed(30)
    page = browser.move(CATALOGUE_VISIT, "/services/30", root=root, minute=1)
    browser.move(page, "/comparisons", root=root, minute=2)
    journey = only(build_journeys(browser.actions))
    assert journey.kind == CATALOGUE_JOURNEY
    assert journey.service_id == 30
    assert journey.recommendation_id is None and journey.panel_id is None
    assert journey.labels == ("mild_interest", "interest")


def test_clicks_without_a_root_from_a_list_page_are_catalogue_journeys() -> None:
    browser = Browser()
    browser.move(CATALOGUE_VISIT, "/services/30", root=(None, None, None), minute=1)
    journey = only(build_journeys(browser.actions))
    assert journey.kind == CATALOGUE_JOURNEY
    assert journey.service_id == 30, "the service comes from the page when there is no root"
    assert not journey.partial


def test_an_anonymous_visitor_has_no_user_until_logging_in_to_order() -> None:
    anonymous = Browser(unique_id="anonymous")
    root = listed(25)
    anonymous.move(CATALOGUE_VISIT, "/services/25", root=root, minute=1)
    assert only(build_journeys(anonymous.actions)).user_id is None

    logs_in = Browser(unique_id="logs-in")
    page = logs_in.move(CATALOGUE_VISIT, "/services/25", root=root, minute=1)
    page = logs_in.move(page, "/services/25/summary", root=root, minute=2, user_id=9)
    logs_in.move(page, "/projects/1", root=root, minute=3, order=True, user_id=9)
    journey = only(build_journeys(logs_in.actions))
    assert (journey.unique_id, journey.user_id) == ("logs-in", 9)


def test_actions_arriving_out_of_order_build_the_same_trees() -> None:
    browser = Browser()
    ordering_panel_journey(browser)
    root = listed(40)
    page = browser.move(CATALOGUE_VISIT, "/services/40", root=root, minute=5)
    browser.move(page, "/services/40/offers", root=root, minute=6)
    browser.move(page, "/services/40/details", root=root, minute=7)
    expected = build_journeys(browser.actions)
    assert len(expected) == 2
    shuffled = list(browser.actions)
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        assert build_journeys(shuffled) == expected


def test_a_child_stored_before_its_parent_keeps_its_place_in_the_tree() -> None:
    # The portal's clock and its delivery disagree: the offers page was reported first, with
    # an earlier id and an earlier timestamp than the click that opened its source page.
    browser = Browser()
    root = panel(25)
    page = browser.move(CATALOGUE_VISIT, "/services/25", root=root, minute=5, recommendation_id=7)
    browser.move(page, "/services/25/offers", root=root, minute=1)
    journey = only(build_journeys(reversed(browser.actions)))
    assert journey.labels == ("mild_interest", "interest")
    assert journey.parents == (-1, 0)
    assert journey.started_at == T0 + timedelta(minutes=5)
    assert journey.ended_at == T0 + timedelta(minutes=5)


def test_an_action_whose_parent_is_missing_begins_a_partial_journey() -> None:
    browser = Browser()
    root = panel(25)
    lost = ("never-reported", "/services/25")
    page = browser.move(lost, "/services/25/offers", root=root, minute=1)
    browser.move(page, "/services/25/summary", root=root, minute=2)
    journey = only(build_journeys(browser.actions))
    assert journey.partial
    assert journey.kind == PANEL_JOURNEY and journey.service_id == 25
    assert journey.labels == ("interest", "interest")
    assert journey.recommendation_id is None


def test_two_clicks_on_one_list_page_are_two_journeys_not_two_tabs() -> None:
    browser = Browser()
    browser.move(CATALOGUE_VISIT, "/services/25", root=panel(25), minute=1, recommendation_id=7)
    browser.move(CATALOGUE_VISIT, "/services/30", root=listed(30), minute=2)
    journeys = build_journeys(browser.actions)
    assert [(j.kind, j.service_id) for j in journeys] == [
        (PANEL_JOURNEY, 25),
        (CATALOGUE_JOURNEY, 30),
    ]


def test_a_click_on_a_list_reached_by_a_move_begins_a_new_journey() -> None:
    browser = Browser()
    page = browser.move(CATALOGUE_VISIT, "/services/25", root=listed(25), minute=1)
    back = browser.move(page, "/services", root=listed(25), minute=2)
    browser.move(back, "/services/30", root=listed(30), minute=3)
    journeys = build_journeys(browser.actions)
    assert [j.service_id for j in journeys] == [25, 30]
    assert not journeys[1].partial


def test_a_click_on_a_panel_shown_on_a_service_page_begins_a_new_journey() -> None:
    browser = Browser()
    page = browser.move(CATALOGUE_VISIT, "/services/25", root=listed(25), minute=1)
    browser.move(page, "/services/31", root=panel(31, "v2"), minute=2, recommendation_id=8)
    first, second = build_journeys(browser.actions)
    assert (first.kind, first.service_id) == (CATALOGUE_JOURNEY, 25)
    assert (second.kind, second.service_id, second.panel_id) == (PANEL_JOURNEY, 31, "v2")
    assert second.recommendation_id == 8 and not second.partial


def test_a_move_to_a_related_service_stays_in_the_journey() -> None:
    browser = Browser()
    root = listed(25)
    page = browser.move(CATALOGUE_VISIT, "/services/25", root=root, minute=1)
    browser.move(page, "/services/26", root=root, minute=2)
    journey = only(build_journeys(browser.actions))
    assert journey.service_id == 25
    assert journey.labels == ("mild_interest", "simple_transition")


def test_browsers_do_not_share_journeys_even_with_equal_visit_ids() -> None:
    first, second = Browser(unique_id="a"), Browser(unique_id="b", first_id=100)
    page = first.move(CATALOGUE_VISIT, "/services/25", root=listed(25), minute=1)
    second.move((page[0], "/services/25"), "/services/25/offers", root=listed(25), minute=2)
    journeys = build_journeys([*first.actions, *second.actions])
    assert [(j.unique_id, j.partial) for j in journeys] == [("a", False), ("b", True)]


def test_rewards_follow_the_configured_label_values() -> None:
    browser = Browser()
    ordering_panel_journey(browser)
    journey = only(build_journeys(browser.actions))
    richer = RewardValues.parse("order=5")
    assert journey_reward(journey, richer) == pytest.approx(0.25 + 0.5 + 0.5 + 5.0)


def test_panel_rewards_are_the_rewards_of_the_journeys_begun_at_each_position() -> None:
    browser = Browser()
    ordering_panel_journey(browser, recommendation_id=7)  # position 0: service 25
    page = browser.move(
        CATALOGUE_VISIT, "/services/41", root=panel(41), minute=10, recommendation_id=7
    )
    browser.move(page, "/services/41/details", root=panel(41), minute=11)
    browser.move(page, "/services/41/offers", root=panel(41), minute=12)
    # Service 30 sits at position 1 but was only clicked in the list and on another panel.
    browser.move(CATALOGUE_VISIT, "/services/30", root=listed(30), minute=13)
    browser.move(
        ("other-list", "/services"),
        "/services/30",
        root=panel(30),
        minute=14,
        recommendation_id=8,
    )
    journeys = build_journeys(browser.actions)
    rewards = panel_rewards(7, [25, 30, 41], journeys, VALUES)
    assert rewards == pytest.approx([2.25, 0.0, 0.25 + 0.25 + 0.5])
    assert panel_rewards(8, [30, 25], journeys, VALUES) == pytest.approx([0.25, 0.0])
    assert panel_rewards(9, [25, 30, 41], journeys, VALUES) == [0.0, 0.0, 0.0]


def test_two_clicks_on_one_position_add_up() -> None:
    browser = Browser()
    browser.move(CATALOGUE_VISIT, "/services/25", root=panel(25), minute=1, recommendation_id=7)
    browser.move(CATALOGUE_VISIT, "/services/25", root=panel(25), minute=2, recommendation_id=7)
    rewards = panel_rewards(7, [25, 30], build_journeys(browser.actions), VALUES)
    assert rewards == pytest.approx([0.5, 0.0])


# --- from the store ---------------------------------------------------------------------------


def action_body(
    source: tuple[str, str], target: tuple[str, str], root: dict[str, Any], minute: int
) -> UserActionIn:
    return UserActionIn.model_validate(
        {
            "unique_id": "browser-1",
            "user_id": 5,
            "timestamp": (T0 + timedelta(minutes=minute)).isoformat(),
            "source": {"visit_id": source[0], "page_id": source[1], "root": root},
            "target": {"visit_id": target[0], "page_id": target[1]},
            "action": {"type": "button", "text": "", "order": False},
        }
    )


def shown(visit_id: str) -> impressions.Impression:
    return impressions.Impression(
        requested_at=T0,
        unique_id="browser-1",
        visit_id=visit_id,
        page_id="/services",
        panel_id="v1",
        client_id="marketplace",
        user_id=5,
        aai_uid=None,
        engine_requested=None,
        engine="popularity",
        model_version=None,
        catalog_version=0,
        search_data={},
        candidates=None,
        candidate_count=3,
        service_ids=[25, 30, 41],
        scores=[0.3, 0.2, 0.1],
    )


def test_journeys_are_read_from_stored_actions_in_windows(db: Database) -> None:
    root = {"type": "recommendation_panel", "panel_id": "v1", "service_id": 25}
    with db.write() as conn:
        impression_id = impressions.write(conn, shown("list-1"))
        ids = [
            actions.record(conn, body).id
            for body in (
                action_body(("list-1", "/services"), ("a", "/services/25"), root, 1),
                action_body(("a", "/services/25"), ("b", "/services/25/offers"), root, 2),
                action_body(("b", "/services/25/offers"), ("c", "/services/25"), root, 3),
            )
        ]
    with db.engine.connect() as conn:
        journey = only(read_journeys(conn))
        assert journey.recommendation_id == impression_id
        assert journey.labels == ("mild_interest", "interest", "simple_transition")
        assert panel_rewards(impression_id, [25, 30, 41], [journey], VALUES) == pytest.approx(
            [0.85, 0.0, 0.0]
        )
        cut = only(read_journeys(conn, after_action_id=ids[0], until_action_id=ids[1]))
        assert cut.partial and cut.action_ids == (ids[1],)
        assert read_journeys(conn, unique_ids=["someone-else"]) == []
        assert only(read_journeys(conn, unique_ids=["browser-1"])) == journey


def test_a_click_stored_before_its_panel_is_linked_to_it_when_read(db: Database) -> None:
    root = {"type": "recommendation_panel", "panel_id": "v1", "service_id": 30}
    with db.write() as conn:
        # An import of the actions before the panels: the click found no impression.
        recorded = actions.record(
            conn, action_body(("list-2", "/services"), ("a", "/services/30"), root, 1)
        )
        assert recorded.recommendation_id is None
        impression_id = impressions.write(conn, shown("list-2"))
    with db.engine.connect() as conn:
        journey = only(read_journeys(conn))
    assert journey.recommendation_id == impression_id
    assert panel_rewards(impression_id, [25, 30, 41], [journey], VALUES) == pytest.approx(
        [0.0, 0.25, 0.0]
    )
