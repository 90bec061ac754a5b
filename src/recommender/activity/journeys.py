"""User journeys: the trees of page moves that follow a click, rebuilt from stored actions.

The portal reports each move between two page visits as one action. An action continues the
action that opened its source visit (same browser: `unique_id`, and that action's
`target_visit_id` is this one's `source_visit_id`); two actions from one visit are two tabs,
so a journey is a tree. A journey begins with a click on a recommendation panel or on a
catalogue list; every action of it carries the root of that click, which is how a click from
a panel on another service's page is told apart from the moves before it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, Connection, select

from recommender.activity.pages import CATALOGUE, abstract, service_of_page
from recommender.activity.rewards import transition_label
from recommender.contract.rewards import RewardValues
from recommender.store.schema import Recommendation, UserAction

JourneyKind = Literal["recommendation_panel", "catalogue"]
PANEL_JOURNEY: JourneyKind = "recommendation_panel"
CATALOGUE_JOURNEY: JourneyKind = "catalogue"
# How many ids one `IN (...)` names: SQLite refuses statements with too many parameters.
_IN_CHUNK = 500


def _chunks(values: Collection[str]) -> list[list[str]]:
    ordered = sorted(values)
    return [ordered[i : i + _IN_CHUNK] for i in range(0, len(ordered), _IN_CHUNK)]


@dataclass(frozen=True)
class ActionRecord:
    """The stored columns of one user action that journeys and histories are built from."""

    id: int
    timestamp: datetime
    unique_id: str
    user_id: int | None
    source_visit_id: str | None
    source_page_id: str
    target_visit_id: str
    target_page_id: str
    root_type: str | None = None
    root_panel_id: str | None = None
    root_service_id: int | None = None
    is_order: bool = False
    service_id: int | None = None
    recommendation_id: int | None = None


@dataclass(frozen=True)
class Journey:
    """One journey tree: the click that began it and every move that followed, tabs included.

    `action_ids`, `parents` and `labels` run in parallel, in depth-first order (a parent
    before its children, siblings by time): `parents[i]` is the position of the action that
    `action_ids[i]` continued, -1 for the first, and `labels[i]` the transition label of its
    move. `partial` journeys begin with an action whose parent was never stored, so their
    first moves (the click among them) are unknown.
    """

    kind: JourneyKind
    service_id: int | None
    recommendation_id: int | None
    panel_id: str | None
    unique_id: str
    user_id: int | None
    visit_id: str | None
    started_at: datetime
    ended_at: datetime
    ordered: bool
    partial: bool
    action_ids: tuple[int, ...]
    parents: tuple[int, ...]
    labels: tuple[str, ...]

    @property
    def root_action_id(self) -> int:
        return self.action_ids[0]


def journey_reward(journey: Journey, values: RewardValues) -> float:
    """What a journey is worth: the summed values of the labels of all its moves.

    A sum, not the best label alone, so that every sign of interest counts: a click that is
    followed by a look at the offers is worth more than a click alone, a second tab adds its
    own moves, and an order (the largest value) dominates. It also decomposes by label, so
    stored label counts can be valued again under other reward values.
    """
    return values.total(Counter(journey.labels))


def panel_label_counts(
    recommendation_id: int, served: Sequence[int], journeys: Iterable[Journey]
) -> list[Counter[str]]:
    """Per panel position, the labels of the journeys begun by a click on that position's
    service of impression `recommendation_id`; empty where nothing was clicked."""
    position: dict[int | None, int] = {}
    for index, service_id in enumerate(served):
        position.setdefault(service_id, index)
    counts: list[Counter[str]] = [Counter() for _ in served]
    for journey in journeys:
        if journey.kind != PANEL_JOURNEY or journey.recommendation_id != recommendation_id:
            continue
        clicked = position.get(journey.service_id)
        if clicked is not None:
            counts[clicked].update(journey.labels)
    return counts


def panel_rewards(
    recommendation_id: int,
    served: Sequence[int],
    journeys: Iterable[Journey],
    values: RewardValues,
) -> list[float]:
    """The reward of each position of a served panel `[s1, s2, s3]`: the summed rewards of the
    journeys begun by a click on `s_k` in that impression, 0.0 where nothing was clicked."""
    return [values.total(c) for c in panel_label_counts(recommendation_id, served, journeys)]


def _order(action: ActionRecord) -> tuple[datetime, int]:
    return action.timestamp, action.id


def _root(action: ActionRecord) -> tuple[str | None, str | None, int | None]:
    return action.root_type, action.root_panel_id, action.root_service_id


def _is_click(action: ActionRecord) -> bool:
    """Whether an action is the click a journey begins with: one from a list page, or one
    that lands on its root service from a page of another service (a panel shown there)."""
    if abstract(action.source_page_id) == CATALOGUE:
        return True
    root = action.root_service_id
    source = service_of_page(action.source_page_id)
    return (
        root is not None
        and source is not None
        and source != root
        and service_of_page(action.target_page_id) == root
    )


def _begins_journey(action: ActionRecord, parent: ActionRecord | None) -> bool:
    if parent is None or abstract(action.source_page_id) == CATALOGUE:
        return True
    # A new root means a new click; an action that sends no root continues its parent's.
    return action.root_type is not None and _root(action) != _root(parent)


def _tree(
    root: ActionRecord, children: dict[int, list[ActionRecord]]
) -> list[tuple[ActionRecord, int]]:
    """(action, position of its parent) in depth-first order, siblings oldest first."""
    out: list[tuple[ActionRecord, int]] = []
    stack = [(root, -1)]
    while stack:
        node, parent_position = stack.pop()
        position = len(out)
        out.append((node, parent_position))
        stack.extend((child, position) for child in reversed(children.get(node.id, ())))
    return out


def _journey(tree: list[tuple[ActionRecord, int]], partial: bool) -> Journey:
    root = tree[0][0]
    nodes = [node for node, _ in tree]
    panel = root.root_type == PANEL_JOURNEY or root.recommendation_id is not None
    # Later steps may carry what the first lacks: a link to the impression that arrived
    # after the click, a user who logged in to order.
    recommendation_id = (
        next((n.recommendation_id for n in nodes if n.recommendation_id is not None), None)
        if panel
        else None
    )
    return Journey(
        kind=PANEL_JOURNEY if panel else CATALOGUE_JOURNEY,
        service_id=root.root_service_id or service_of_page(root.target_page_id) or root.service_id,
        recommendation_id=recommendation_id,
        panel_id=root.root_panel_id if panel else None,
        unique_id=root.unique_id,
        user_id=next((n.user_id for n in nodes if n.user_id is not None), None),
        visit_id=root.source_visit_id,
        started_at=root.timestamp,
        ended_at=max(n.timestamp for n in nodes),
        ordered=any(n.is_order for n in nodes),
        partial=partial,
        action_ids=tuple(n.id for n in nodes),
        parents=tuple(p for _, p in tree),
        labels=tuple(
            transition_label(n.source_page_id, n.target_page_id, n.is_order) for n in nodes
        ),
    )


def _visitor_journeys(actions: Sequence[ActionRecord]) -> list[Journey]:
    """The journeys of one browser (`unique_id`)."""
    ordered = sorted(actions, key=_order)
    opened_by: dict[str, ActionRecord] = {}
    for action in ordered:
        # A visit reported twice keeps its latest report.
        opened_by[action.target_visit_id] = action
    parent: dict[int, ActionRecord | None] = {}
    children: dict[int, list[ActionRecord]] = {}
    starts: list[ActionRecord] = []
    for action in ordered:
        found = opened_by.get(action.source_visit_id) if action.source_visit_id else None
        found = None if found is not None and found.id == action.id else found
        parent[action.id] = found
        if _begins_journey(action, found):
            starts.append(action)
        elif found is not None:
            children.setdefault(found.id, []).append(action)
    trees = [
        (_tree(start, children), parent[start.id] is None and not _is_click(start))
        for start in starts
    ]
    seen = {node.id for tree, _ in trees for node, _ in tree}
    # Actions left over follow each other in a loop (visit ids reported wrongly): the oldest
    # of each loop begins a partial journey.
    for action in ordered:
        if action.id in seen:
            continue
        above = parent[action.id]
        if above is not None:
            children[above.id] = [c for c in children[above.id] if c.id != action.id]
        tree = _tree(action, children)
        seen.update(node.id for node, _ in tree)
        trees.append((tree, True))
    return [_journey(tree, partial) for tree, partial in trees]


def build_journeys(actions: Iterable[ActionRecord]) -> list[Journey]:
    """Every journey in a set of actions, in any order, oldest journey first.

    An action whose parent is not among `actions` begins a journey of its own (a partial one
    unless it is a click), so a window of the action log yields the journeys inside it.
    """
    by_visitor: dict[str, dict[int, ActionRecord]] = {}
    for action in actions:
        by_visitor.setdefault(action.unique_id, {})[action.id] = action
    journeys = [
        journey
        for visitor in by_visitor.values()
        for journey in _visitor_journeys(list(visitor.values()))
    ]
    journeys.sort(key=lambda j: (j.started_at, j.root_action_id))
    return journeys


_ACTION_COLUMNS = (
    UserAction.id,
    UserAction.timestamp,
    UserAction.unique_id,
    UserAction.user_id,
    UserAction.source_visit_id,
    UserAction.source_page_id,
    UserAction.target_visit_id,
    UserAction.target_page_id,
    UserAction.root_type,
    UserAction.root_panel_id,
    UserAction.root_service_id,
    UserAction.is_order,
    UserAction.service_id,
    UserAction.recommendation_id,
)


def read_actions(conn: Connection, condition: ColumnElement[bool]) -> list[ActionRecord]:
    """The stored actions that meet a condition on `user_actions`, in id order."""
    rows = conn.execute(select(*_ACTION_COLUMNS).where(condition).order_by(UserAction.id))
    return [ActionRecord(*row) for row in rows]


def _link_impressions(conn: Connection, journeys: list[Journey]) -> list[Journey]:
    """Panel journeys stored without their impression (an action imported before the panel it
    was clicked on) are linked as `POST /user_actions` would have: by visit and panel."""
    unlinked = [
        j
        for j in journeys
        if j.kind == PANEL_JOURNEY and j.recommendation_id is None and j.visit_id
    ]
    latest: dict[tuple[str, str | None], int] = {}
    for chunk in _chunks({j.visit_id for j in unlinked if j.visit_id}):
        rows = conn.execute(
            select(Recommendation.id, Recommendation.visit_id, Recommendation.panel_id)
            .where(Recommendation.visit_id.in_(chunk))
            .order_by(Recommendation.id)
        )
        for impression_id, visit_id, panel_id in rows:
            latest[(str(visit_id), panel_id)] = int(impression_id)
            latest[(str(visit_id), None)] = int(impression_id)
    if not latest:
        return journeys
    relink = {j.root_action_id for j in unlinked}
    return [
        replace(j, recommendation_id=latest.get((j.visit_id, j.panel_id)))
        if j.root_action_id in relink and j.visit_id is not None
        else j
        for j in journeys
    ]


def read_journeys(
    conn: Connection,
    *,
    after_action_id: int = 0,
    until_action_id: int | None = None,
    unique_ids: Collection[str] | None = None,
) -> list[Journey]:
    """The journeys of the actions with `after_action_id < id <= until_action_id`, oldest
    first; `unique_ids` keeps only those browsers' journeys.

    A window cuts the journeys that cross its lower edge: their later actions begin partial
    journeys.
    """
    condition: ColumnElement[bool] = UserAction.id > after_action_id
    if until_action_id is not None:
        condition = condition & (UserAction.id <= until_action_id)
    if unique_ids is None:
        actions = read_actions(conn, condition)
    else:
        actions = [
            action
            for chunk in _chunks(unique_ids)
            for action in read_actions(conn, condition & UserAction.unique_id.in_(chunk))
        ]
    return _link_impressions(conn, build_journeys(actions))
