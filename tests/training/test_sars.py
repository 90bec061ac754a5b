from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from recommender.activity import actions, impressions
from recommender.activity.imports import import_actions, import_recommendations
from recommender.activity.journeys import ActionRecord, Journey, build_journeys
from recommender.catalog.loader import replace_catalog
from recommender.cli.catalog import demo_fixture
from recommender.config import Settings
from recommender.contract.rewards import RewardValues
from recommender.contract.user_actions import UserActionIn
from recommender.store import state
from recommender.store.database import Database
from recommender.store.schema import Recommendation, Transition, User
from recommender.training.sars import (
    IdentityLog,
    ImpressionRecord,
    transition_arrays,
    transitions_of,
)
from recommender.training.transition_log import extend_transitions, load_transitions
from recommender.transitions import PAD, Context, Transitions

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
GAP = timedelta(minutes=30)
VALUES = RewardValues()
LONG_AFTER = T0 + timedelta(days=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def impression(
    impression_id: int,
    minute: float,
    *,
    user_id: int | None = None,
    unique_id: str = "browser-1",
    served: Sequence[int] = (25, 30, 41),
    page_id: str = "/services",
    search: dict[str, Any] | None = None,
    candidates: Sequence[int] = (),
) -> ImpressionRecord:
    return ImpressionRecord(
        id=impression_id,
        requested_at=at(minute),
        unique_id=unique_id,
        user_id=user_id,
        served=tuple(served),
        context=Context(page_id=page_id, search_data=search or {}, candidates=tuple(candidates)),
    )


class Clicks:
    """Actions of one browser: clicks from a list page and moves on from them."""

    def __init__(self, unique_id: str = "browser-1", user_id: int | None = None) -> None:
        self.unique_id, self.user_id = unique_id, user_id
        self.actions: list[ActionRecord] = []

    def _add(
        self,
        source: tuple[str, str],
        page: str,
        minute: float,
        root: tuple[str, int],
        recommendation_id: int | None,
        order: bool = False,
    ) -> tuple[str, str]:
        visit = f"{self.unique_id}-{len(self.actions) + 1}"
        self.actions.append(
            ActionRecord(
                id=len(self.actions) + 1,
                timestamp=at(minute),
                unique_id=self.unique_id,
                user_id=self.user_id,
                source_visit_id=source[0],
                source_page_id=source[1],
                target_visit_id=visit,
                target_page_id=page,
                root_type=root[0],
                root_panel_id="v1" if root[0] == "recommendation_panel" else None,
                root_service_id=root[1],
                is_order=order,
                recommendation_id=recommendation_id,
            )
        )
        return visit, page

    def panel_click(
        self, service_id: int, minute: float, recommendation_id: int
    ) -> tuple[str, str]:
        return self._add(
            (f"list-{recommendation_id}", "/services"),
            f"/services/{service_id}",
            minute,
            ("recommendation_panel", service_id),
            recommendation_id,
        )

    def list_click(self, service_id: int, minute: float) -> tuple[str, str]:
        return self._add(
            ("a-list", "/services"), f"/services/{service_id}", minute, ("other", service_id), None
        )

    def order_from(self, page: str, service_id: int, minute: float) -> tuple[str, str]:
        """An order sent from a page whose earlier moves are not part of the test."""
        return self._add(
            (f"{page}-visit", page), "/projects/1", minute, ("other", service_id), None, True
        )

    def then(
        self, source: tuple[str, str], page: str, minute: float, order: bool = False
    ) -> tuple[str, str]:
        parent = next(a for a in self.actions if a.target_visit_id == source[0])
        assert parent.root_type is not None and parent.root_service_id is not None
        return self._add(
            source, page, minute, (parent.root_type, parent.root_service_id), None, order
        )


def transitions(
    logs: Sequence[IdentityLog],
    *,
    latest: datetime = LONG_AFTER,
    gap: timedelta = GAP,
    history_length: int = 4,
) -> Transitions:
    """Transitions of whole identities, built the way the store builds them."""
    journeys: dict[int, list[Journey]] = {}
    for journey in build_journeys([a for log in logs for a in log.actions]):
        if journey.recommendation_id is not None:
            journeys.setdefault(journey.recommendation_id, []).append(journey)
    records = [
        record
        for log in logs
        for record in transitions_of(log, journeys, latest_activity=latest, session_gap=gap)
    ]
    records.sort(key=lambda r: r.impression.id)
    return transition_arrays(records, values=VALUES, history_length=history_length)


# --- states, actions, rewards -----------------------------------------------------------------


def test_histories_are_padded_with_minus_one_and_masked_never_zero() -> None:
    user = Clicks(user_id=5)
    user.list_click(7, minute=1)
    user.list_click(0, minute=2)  # service 0 is an id like any other, not padding
    data = transitions(
        [IdentityLog([impression(1, 10, user_id=5)], user.actions, accessed_services=[3])],
        history_length=5,
    )
    assert data.state.histories.tolist() == [[3, 7, 0, PAD, PAD]]
    assert data.state.history_lengths.tolist() == [3]
    assert data.state.history_mask.tolist() == [[True, True, True, False, False]]


def test_a_history_keeps_the_latest_distinct_services_oldest_first() -> None:
    user = Clicks(user_id=5)
    for minute, service_id in enumerate((1, 2, 3, 1, 4, 5)):
        user.list_click(service_id, minute=minute)
    data = transitions(
        [IdentityLog([impression(1, 10, user_id=5)], user.actions, accessed_services=[9, 2])],
        history_length=4,
    )
    # 2 from the dump was engaged with again; 1 came back after 3: each sits where last seen.
    assert data.state.histories.tolist() == [[3, 1, 4, 5]]
    assert data.state.history_lengths.tolist() == [4]


def test_only_engagement_strictly_before_an_impression_is_its_history() -> None:
    user = Clicks(user_id=5)
    page = user.list_click(7, minute=1)
    user.then(page, "/services/7/summary", minute=2)
    user.order_from("/services/8/summary", 8, minute=3)
    user.list_click(9, minute=10)  # at the very moment of the impression
    data = transitions(
        [IdentityLog([impression(1, 10, user_id=5)], user.actions)], history_length=4
    )
    assert data.state.histories.tolist() == [[7, 8, PAD, PAD]], "the order counts, service 9 not"


def test_a_dump_service_ordered_in_the_log_counts_from_its_order_on() -> None:
    user = Clicks(user_id=5)
    user.order_from("/services/8/summary", 8, minute=20)  # between the two impressions
    data = transitions(
        [
            IdentityLog(
                [impression(1, 10, user_id=5), impression(2, 30, user_id=5)],
                user.actions,
                accessed_services=[3, 8],
            )
        ],
        history_length=3,
    )
    assert data.state.histories.tolist() == [[3, PAD, PAD], [3, 8, PAD]]


def test_the_action_is_the_panel_and_the_reward_what_each_position_led_to() -> None:
    user = Clicks(user_id=5)
    page = user.panel_click(41, minute=1, recommendation_id=1)
    page = user.then(page, "/services/41/offers", minute=2)
    user.list_click(25, minute=3)  # in the list, not on the panel: no reward for position 0
    data = transitions(
        [
            IdentityLog(
                [impression(1, 0, user_id=5), impression(2, 5, user_id=5, served=(3, 4))],
                user.actions,
            )
        ]
    )
    assert data.actions.tolist() == [[25, 30, 41], [3, 4, PAD]]
    assert data.action_mask.tolist() == [[True, True, True], [True, True, False]]
    assert data.rewards.dtype == np.float32
    np.testing.assert_allclose(data.rewards, [[0.0, 0.0, 0.75], [0.0, 0.0, 0.0]], rtol=1e-6)


def test_the_context_is_the_page_the_filters_and_the_portal_candidates() -> None:
    shown = [
        impression(1, 0, search={"q": "cloud", "categories": [10]}, candidates=(4, 5, 6)),
        impression(2, 1),
        impression(3, 2, page_id="/services/c/compute", candidates=(7,)),
    ]
    data = transitions([IdentityLog(shown, [])])
    assert data.state.page_ids.tolist() == ["/services", "/services", "/services/c/compute"]
    assert data.state.search_data[0] == {"q": "cloud", "categories": [10]}
    assert data.state.candidate_indptr.tolist() == [0, 3, 3, 4]
    assert data.state.candidates(0).tolist() == [4, 5, 6]
    assert data.state.candidates(1).tolist() == [], "none sent: the whole catalogue"
    assert data.next_state.candidates(1).tolist() == [7]


# --- next states and episodes -----------------------------------------------------------------


def test_the_next_state_is_the_same_identity_next_impression() -> None:
    user = Clicks(user_id=5)
    user.panel_click(30, minute=1, recommendation_id=1)
    data = transitions(
        [
            IdentityLog(
                [impression(1, 0, user_id=5), impression(2, 10, user_id=5, candidates=(8,))],
                user.actions,
            )
        ]
    )
    assert data.impression_ids.tolist() == [1, 2]
    assert data.next_impression_ids.tolist() == [2, PAD]
    assert data.done.tolist() == [False, True]
    assert data.next_state.histories[0].tolist() == [30, PAD, PAD, PAD]
    assert data.next_state.history_lengths.tolist() == [1, 0]
    assert data.next_state.candidates(0).tolist() == [8]
    assert data.next_state.user_ids.tolist() == [5, 5]


def test_a_session_ends_after_the_gap_without_activity() -> None:
    user = Clicks(user_id=5)
    page = user.panel_click(30, minute=1, recommendation_id=1)
    user.then(page, "/services/30/offers", minute=25)  # still busy with the first panel
    shown = [
        impression(1, 0, user_id=5),
        impression(2, 50, user_id=5),  # 25 minutes after the last move: same session
        impression(3, 90, user_id=5),  # 40 minutes after impression 2: a new session
    ]
    data = transitions([IdentityLog(shown, user.actions)])
    assert data.done.tolist() == [False, True, True]
    assert data.next_impression_ids.tolist() == [2, PAD, PAD]
    assert data.next_state.history_lengths.tolist() == [1, 0, 0]
    assert data.next_state.page_ids.tolist() == ["/services", "", ""]

    longer = transitions([IdentityLog(shown, user.actions)], gap=timedelta(hours=1))
    assert longer.done.tolist() == [False, False, True]


def test_an_impression_is_finished_only_a_session_gap_after_everything_it_led_to() -> None:
    user = Clicks(user_id=5)
    page = user.panel_click(30, minute=1, recommendation_id=1)
    user.then(page, "/services/30/offers", minute=20)  # a tab left open past the next search
    shown = [impression(1, 0, user_id=5), impression(2, 5, user_id=5)]
    log = IdentityLog(shown, user.actions)
    assert len(transitions([log], latest=at(40))) == 0
    finished = transitions([log], latest=at(51))
    assert finished.impression_ids.tolist() == [1, 2]
    assert finished.rewards[0].tolist() == pytest.approx([0.0, 0.25 + 0.5, 0.0])


def test_anonymous_browsers_and_users_are_separate_identities() -> None:
    anonymous = Clicks(unique_id="anonymous")
    anonymous.list_click(11, minute=1)
    user_here = Clicks(unique_id="browser-1", user_id=5)
    user_here.list_click(12, minute=2)
    user_elsewhere = Clicks(unique_id="laptop", user_id=5)
    user_elsewhere.list_click(13, minute=3)
    data = transitions(
        [
            IdentityLog([impression(1, 10, unique_id="anonymous")], anonymous.actions),
            IdentityLog(
                [impression(2, 10, user_id=5), impression(3, 12, user_id=5, unique_id="laptop")],
                [*user_here.actions, *user_elsewhere.actions],
            ),
        ],
    )
    assert data.user_ids.tolist() == [PAD, 5, 5]
    # A user's history spans browsers; an anonymous browser's is its own.
    assert data.state.histories[:, :2].tolist() == [[11, PAD], [12, 13], [12, 13]]
    assert data.done.tolist() == [True, False, True]
    assert data.next_impression_ids.tolist() == [PAD, 3, PAD]


def test_batches_concatenate_row_by_row() -> None:
    first = transitions([IdentityLog([impression(1, 0, candidates=(4, 5))], [])], history_length=2)
    second = transitions(
        [IdentityLog([impression(2, 0, unique_id="b", candidates=(6,))], [])], history_length=3
    )
    both = Transitions.concatenate([first, second])
    assert len(both) == 2
    assert both.impression_ids.tolist() == [1, 2]
    assert both.state.histories.shape == (2, 3)
    assert both.state.candidate_indptr.tolist() == [0, 2, 3]
    assert both.state.candidates(1).tolist() == [6]
    assert len(Transitions.concatenate([])) == 0


# --- the stored data set ----------------------------------------------------------------------


def settings_for(db: Database, **values: Any) -> Settings:
    return Settings(_env_file=None, database_url=db.url, **values)


def show(
    db: Database,
    minute: float,
    visit_id: str,
    *,
    user_id: int | None,
    unique_id: str,
    arm: tuple[int, float] | None = None,
) -> int:
    """Store a panel; `arm` is (experiment id, the arm's propensity) when an experiment's arm
    served it."""
    with db.write() as conn:
        return impressions.write(
            conn,
            impressions.Impression(
                requested_at=at(minute),
                unique_id=unique_id,
                visit_id=visit_id,
                page_id="/services",
                panel_id="v1",
                client_id="marketplace",
                user_id=user_id,
                aai_uid=None,
                engine_requested=None,
                engine="popularity",
                model_version=None,
                catalog_version=0,
                search_data={"q": "data"},
                candidates=None,
                candidate_count=3,
                service_ids=[25, 30, 41],
                scores=[0.3, 0.2, 0.1],
                experiment_id=None if arm is None else arm[0],
                arm=None if arm is None else "a" if arm[1] > 0.5 else "b",
                propensity=1.0 if arm is None else arm[1],
            ),
        )


def post(
    db: Database,
    minute: float,
    source: tuple[str, str],
    target: tuple[str, str],
    *,
    root: dict[str, Any],
    user_id: int | None,
    unique_id: str,
    order: bool = False,
) -> None:
    body: dict[str, Any] = {
        "unique_id": unique_id,
        "timestamp": at(minute).isoformat(),
        "source": {"visit_id": source[0], "page_id": source[1], "root": root},
        "target": {"visit_id": target[0], "page_id": target[1]},
        "action": {"type": "button", "text": "", "order": order},
    }
    if user_id is not None:
        body["user_id"] = user_id
    with db.write() as conn:
        actions.record(conn, UserActionIn.model_validate(body))


def panel_root(service_id: int) -> dict[str, Any]:
    return {"type": "recommendation_panel", "panel_id": "v1", "service_id": service_id}


def stored(db: Database) -> Transitions:
    with db.engine.connect() as conn:
        return load_transitions(conn, history_length=3)


def stored_rows(db: Database) -> dict[int, tuple[Any, ...]]:
    """The stored table itself, creation times included."""
    with db.engine.connect() as conn:
        rows = conn.execute(select(*Transition.__table__.columns)).all()
    return {row[0]: tuple(row) for row in rows}


def cursor(db: Database) -> int:
    with db.engine.connect() as conn:
        entry = state.read(conn, state.TRANSITIONS)
    return int(entry.value) if entry is not None else 0


def test_new_activity_extends_the_stored_transitions_and_never_rewrites_them(
    db: Database,
) -> None:
    settings = settings_for(db)
    first = show(db, 0, "list-1", user_id=5, unique_id="browser-1")
    post(
        db,
        1,
        ("list-1", "/services"),
        ("v-1", "/services/30"),
        root=panel_root(30),
        user_id=5,
        unique_id="browser-1",
    )
    post(
        db,
        2,
        ("v-1", "/services/30"),
        ("v-2", "/services/30/offers"),
        root=panel_root(30),
        user_id=5,
        unique_id="browser-1",
    )
    anonymous = show(db, 3, "list-2", user_id=None, unique_id="anonymous")
    assert extend_transitions(db, settings) == 0, "the sessions may still go on"
    assert len(stored(db)) == 0

    # Another visitor comes an hour later: both sessions above are over.
    later = show(db, 60, "list-3", user_id=None, unique_id="someone")
    assert extend_transitions(db, settings) == 2
    before = stored(db)
    assert before.impression_ids.tolist() == [first, anonymous]
    assert before.user_ids.tolist() == [5, PAD]
    np.testing.assert_allclose(before.rewards, [[0.0, 0.75, 0.0], [0.0, 0.0, 0.0]], rtol=1e-6)
    assert before.done.tolist() == [True, True]
    assert before.state.search_data[0] == {"q": "data"}
    assert cursor(db) == anonymous, "the unfinished impression holds the cursor back"
    rows_before = stored_rows(db)

    # User 5 comes back on another browser, long after, and orders from the new panel.
    again = show(db, 70, "list-4", user_id=5, unique_id="laptop")
    post(
        db,
        71,
        ("list-4", "/services"),
        ("w-1", "/services/41"),
        root=panel_root(41),
        user_id=5,
        unique_id="laptop",
    )
    post(
        db,
        72,
        ("w-1", "/services/41/summary"),
        ("w-2", "/projects/3"),
        root=panel_root(41),
        user_id=5,
        unique_id="laptop",
        order=True,
    )
    show(db, 200, "list-5", user_id=None, unique_id="someone-else")
    assert extend_transitions(db, settings) == 2
    assert extend_transitions(db, settings) == 0, "a second run adds nothing"
    after = stored(db)
    rows_after = stored_rows(db)
    assert after.impression_ids.tolist() == [first, anonymous, later, again]
    assert {key: rows_after[key] for key in rows_before} == rows_before
    np.testing.assert_array_equal(after.rewards[:2], before.rewards)
    np.testing.assert_array_equal(after.state.histories[:2], before.state.histories)
    assert after.state.histories[3].tolist() == [30, PAD, PAD], "engaged on another browser"
    assert after.rewards[3].tolist() == pytest.approx([0.0, 0.0, 0.25 + 1.0])
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count(Transition.impression_id))).scalar_one() == 4


def test_rewards_are_priced_when_read(db: Database) -> None:
    first = show(db, 0, "list-1", user_id=5, unique_id="browser-1")
    post(
        db,
        1,
        ("list-1", "/services"),
        ("v-1", "/services/25"),
        root=panel_root(25),
        user_id=5,
        unique_id="browser-1",
    )
    show(db, 120, "list-2", user_id=None, unique_id="someone")
    assert extend_transitions(db, settings_for(db)) == 1
    with db.engine.connect() as conn:
        default = load_transitions(conn)
        richer = load_transitions(conn, values=RewardValues.parse("mild_interest=0.4"))
    assert default.impression_ids.tolist() == [first]
    assert default.rewards[0].tolist() == pytest.approx([0.25, 0.0, 0.0])
    assert richer.rewards[0].tolist() == pytest.approx([0.4, 0.0, 0.0])


def test_each_arm_of_an_experiment_weighs_alike_in_the_stored_transitions(db: Database) -> None:
    # Experiment 7 showed arm a (three visitors in four) three times and arm b once; another
    # panel was outside any experiment.
    shown = [
        show(db, n, f"list-{n}", user_id=None, unique_id=f"browser-{n}", arm=(7, share))
        for n, share in enumerate([0.75, 0.75, 0.25, 0.75])
    ]
    outside = show(db, 5, "list-5", user_id=None, unique_id="browser-5")
    show(db, 300, "list-6", user_id=None, unique_id="someone")
    assert extend_transitions(db, settings_for(db)) == 5
    data = stored(db)
    weights = dict(zip(data.impression_ids.tolist(), data.weights.tolist(), strict=True))
    a = [weights[i] for i in (shown[0], shown[1], shown[3])]
    b = weights[shown[2]]
    # Arm b's one panel counts as much as arm a's three; the experiment keeps its four.
    assert sum(a) == pytest.approx(b)
    assert sum(a) + b == pytest.approx(4.0)
    assert weights[outside] == 1.0


def test_the_session_gap_is_a_setting(db: Database) -> None:
    show(db, 0, "list-1", user_id=5, unique_id="browser-1")
    show(db, 40, "list-2", user_id=5, unique_id="browser-1")
    show(db, 300, "list-3", user_id=None, unique_id="someone")
    assert extend_transitions(db, settings_for(db, session_gap_s=3600)) == 2
    assert stored(db).done.tolist() == [False, True]


def test_the_demo_panel_clicks_are_positive_rewards_at_their_positions(db: Database) -> None:
    fixture = demo_fixture()
    with db.write() as conn:
        replace_catalog(conn, fixture["dump"])
        by_aai = {aai: uid for uid, aai in conn.execute(select(User.id, User.aai_uid)) if aai}
        import_recommendations(conn, fixture["recommendations"], by_aai)
        import_actions(conn, fixture["user_actions"], by_aai)
    assert extend_transitions(db, settings_for(db)) > 0
    with db.engine.connect() as conn:
        data = load_transitions(conn)
        visits = dict(conn.execute(select(Recommendation.id, Recommendation.visit_id)).all())
    clicked: dict[str, set[int]] = {}
    for action in fixture["user_actions"]:
        root = action["source"]["root"] or {}
        if (
            root.get("type") == "recommendation_panel"
            and action["source"]["page_id"] == "/services"
        ):
            service_id = root.get("service_id") or root.get("resource_id")
            clicked.setdefault(action["source"]["visit_id"], set()).add(int(service_id))
    positives = 0
    for row, impression_id in enumerate(data.impression_ids.tolist()):
        wanted = clicked.get(visits[impression_id], set())
        for position, service_id in enumerate(data.actions[row].tolist()):
            if service_id == PAD:
                continue
            assert (data.rewards[row, position] > 0) == (service_id in wanted), (
                impression_id,
                service_id,
            )
            positives += service_id in wanted
    assert positives >= 10, "the demo's panel clicks show up as rewards"
    assert data.user_ids.max() > 0 and (data.user_ids == PAD).any()
    assert (data.state.history_lengths > 0).any()
    assert not data.done.all()
