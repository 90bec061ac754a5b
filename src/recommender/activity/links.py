"""Which impression each of a group of user actions follows, with one query per kind of link."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, select

from recommender.activity import impressions
from recommender.contract.user_actions import UserActionIn
from recommender.store.schema import UserAction

log = logging.getLogger(__name__)

PANEL_ROOT = "recommendation_panel"

# For each of a group of page visits, the link of the latest action that led to it.
_LATEST_INTO_VISITS = (
    select(func.max(UserAction.id))
    .where(UserAction.target_visit_id.in_(bindparam("visit_ids", expanding=True)))
    .group_by(UserAction.target_visit_id)
)
_PARENT_LINKS = select(UserAction.target_visit_id, UserAction.recommendation_id).where(
    UserAction.id.in_(_LATEST_INTO_VISITS)
)


@dataclass(frozen=True)
class Link:
    """The impression an action is attributed to, if any."""

    recommendation_id: int | None
    # The click on the panel itself (the journey's first step), not a later step of it.
    panel_click: bool
    # Who served that impression.
    shown: impressions.Shown | None


def _panel_visit(action: UserActionIn) -> str | None:
    """The page visit whose panel the action's journey began on, when it names no impression."""
    root = action.source.root
    if action.recommendation_id is not None or root is None or root.type != PANEL_ROOT:
        return None
    return action.source.visit_id or None


def _parent_links(conn: Connection, visit_ids: set[str]) -> dict[str, int | None]:
    if not visit_ids:
        return {}
    rows = conn.execute(_PARENT_LINKS, {"visit_ids": sorted(visit_ids)})
    return {str(visit): None if link is None else int(link) for visit, link in rows}


def resolve(conn: Connection, batch: Sequence[UserActionIn]) -> list[Link]:
    """The link of each action, exactly as if they were stored one after another in this order.

    An action that names its impression (`recommendation_id`) is linked to it if it exists. A
    click on a panel is linked to the latest impression of that panel on its page visit. A later
    step of a journey begun on a panel follows the visit chain: it takes the link of the latest
    action that led to its page, which may be an earlier action of the same group.
    """
    visits = [_panel_visit(action) for action in batch]
    panels = impressions.latest_on_panels(conn, {visit for visit in visits if visit})
    found: list[int | None] = [
        None if visit is None else impressions.on_panel(panels.get(visit, {}), _panel_id(action))
        for action, visit in zip(batch, visits, strict=True)
    ]
    unlinked = {v for v, shown in zip(visits, found, strict=True) if v and shown is None}
    stored_chain = _parent_links(conn, unlinked)
    named = {action.recommendation_id for action in batch if action.recommendation_id is not None}
    candidates = named | {i for i in found if i is not None}
    candidates |= {i for i in stored_chain.values() if i is not None}
    shown_by = impressions.arms_of(conn, candidates)

    links: list[Link] = []
    # Links of this group's actions by the page visit they led to: newer than any stored one.
    chain: dict[str, int | None] = {}
    for action, visit, shown in zip(batch, visits, found, strict=True):
        linked, click = None, False
        if action.recommendation_id is not None:
            if action.recommendation_id in shown_by:
                linked, click = action.recommendation_id, True
            else:
                # Keep the action: losing a click is worse than losing its link.
                log.warning(
                    "user action names unknown recommendation_id %s", action.recommendation_id
                )
        elif visit is not None:
            if shown is not None:
                linked, click = shown, True
            else:
                linked = chain[visit] if visit in chain else stored_chain.get(visit)
        chain[action.target.visit_id] = linked
        links.append(Link(linked, click, None if linked is None else shown_by.get(linked)))
    return links


def _panel_id(action: UserActionIn) -> str | None:
    root = action.source.root
    return None if root is None else root.panel_id
