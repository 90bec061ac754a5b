"""User actions: stored as sent, resolved to a user, a service and the impression they follow."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import Connection, insert, select

from recommender.activity import impressions
from recommender.activity.pages import service_of_page
from recommender.api.schemas.user_actions import UserActionIn
from recommender.store.schema import UserAction, utcnow

log = logging.getLogger(__name__)

PANEL_ROOT = "recommendation_panel"


def _root_service(action: UserActionIn) -> int | None:
    root = action.source.root
    if root is None:
        return None
    if root.service_id is not None:
        return root.service_id
    if root.resource_type in (None, "service") and isinstance(root.resource_id, int):
        return root.resource_id
    return None


def _text_or_none(value: int | str | None) -> str | None:
    return None if value is None else str(value)


def resolve_service(action: UserActionIn) -> int | None:
    """The service an action is about: the clicked root, else the target, else the source page."""
    return (
        _root_service(action)
        or service_of_page(action.target.page_id)
        or service_of_page(action.source.page_id)
    )


def _linked_impression(conn: Connection, action: UserActionIn) -> int | None:
    if action.recommendation_id is not None:
        if impressions.exists(conn, action.recommendation_id):
            return action.recommendation_id
        # Keep the action: losing a click is worse than losing its link.
        log.warning("user action names unknown recommendation_id %s", action.recommendation_id)
        return None
    root = action.source.root
    if root is not None and root.type == PANEL_ROOT and action.source.visit_id:
        return impressions.find_by_panel(conn, action.source.visit_id, root.panel_id)
    return None


def record(
    conn: Connection, action: UserActionIn, users_by_aai_uid: Mapping[str, int] | None = None
) -> int:
    """Store one action; returns its id. The caller's transaction makes it durable."""
    user_id = action.user_id
    if user_id is None and action.aai_uid and users_by_aai_uid is not None:
        user_id = users_by_aai_uid.get(action.aai_uid)
    root = action.source.root
    values = {
        "received_at": utcnow(),
        "timestamp": action.timestamp,
        "unique_id": action.unique_id,
        "user_id": user_id,
        "aai_uid": action.aai_uid,
        "client_id": action.client_id,
        "source_visit_id": action.source.visit_id,
        "source_page_id": action.source.page_id,
        "root_type": root.type if root else None,
        "root_panel_id": root.panel_id if root else None,
        "root_service_id": _root_service(action),
        "root_resource_type": root.resource_type if root else None,
        "root_resource_id": None
        if root is None or root.resource_id is None
        else str(root.resource_id),
        "target_visit_id": action.target.visit_id,
        "target_page_id": action.target.page_id,
        "action_type": action.action.type,
        "action_text": action.action.text,
        "is_order": action.action.order,
        "service_id": resolve_service(action),
        "recommendation_id": _linked_impression(conn, action),
    }
    return int(
        conn.execute(insert(UserAction).values(values).returning(UserAction.id)).scalar_one()
    )


def ordered_services(conn: Connection, user_id: int) -> set[int]:
    """Services a logged-in user has ordered (never recommended to them again)."""
    rows = conn.execute(
        select(UserAction.service_id).where(
            UserAction.user_id == user_id,
            UserAction.is_order.is_(True),
            UserAction.service_id.is_not(None),
        )
    )
    return {int(r[0]) for r in rows if r[0] is not None}
