"""User actions: stored as sent, resolved to a user, a service and the impression they follow."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, insert, select

from recommender.activity import impressions
from recommender.activity.pages import service_of_page
from recommender.contract.user_actions import UserActionIn
from recommender.store.schema import User, UserAction, utcnow

log = logging.getLogger(__name__)

PANEL_ROOT = "recommendation_panel"

# Built once: a statement built per action costs more than running it (actions come by the
# thousand a second from the databus).
_INSERT = insert(UserAction).returning(UserAction.id)
_USER_OF_AAI_UID = select(User.id).where(User.aai_uid == bindparam("aai_uid"))
_PARENT_LINK = (
    select(UserAction.recommendation_id)
    .where(UserAction.target_visit_id == bindparam("visit_id"))
    .order_by(UserAction.id.desc())
    .limit(1)
)


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


@dataclass(frozen=True)
class ServiceAction:
    """A stored action on a service, as sessions and popularity follow it."""

    id: int
    unique_id: str
    user_id: int | None
    service_id: int
    # Seconds since the epoch, as the portal timed the action.
    at: float
    ordered: bool


@dataclass(frozen=True)
class Recorded:
    """What storing an action found out, for attribution metrics and sessions."""

    id: int
    recommendation_id: int | None
    engine: str | None
    # The click on the panel itself (the journey's first step), not a later step of it.
    panel_click: bool
    order: bool
    # The experiment and arm of the impression it is attributed to, if any.
    experiment_id: int | None = None
    arm: str | None = None
    # None when the action is about no service.
    service_action: ServiceAction | None = None


def _parent_link(conn: Connection, visit_id: str) -> int | None:
    """The impression the action that led to this page visit was linked to."""
    row = conn.execute(_PARENT_LINK, {"visit_id": visit_id}).first()
    return None if row is None or row[0] is None else int(row[0])


def _linked_impression(conn: Connection, action: UserActionIn) -> tuple[int | None, bool]:
    """(impression id, whether this action is the click on its panel)."""
    if action.recommendation_id is not None:
        if impressions.exists(conn, action.recommendation_id):
            return action.recommendation_id, True
        # Keep the action: losing a click is worse than losing its link.
        log.warning("user action names unknown recommendation_id %s", action.recommendation_id)
        return None, False
    root = action.source.root
    if root is None or root.type != PANEL_ROOT or not action.source.visit_id:
        return None, False
    shown = impressions.find_by_panel(conn, action.source.visit_id, root.panel_id)
    if shown is not None:
        return shown, True
    # A later step of a journey that began on a panel: the link follows the visit chain.
    return _parent_link(conn, action.source.visit_id), False


def _user_of(
    conn: Connection, aai_uid: str, users_by_aai_uid: Mapping[str, int] | None
) -> int | None:
    if users_by_aai_uid is not None:
        return users_by_aai_uid.get(aai_uid)
    row = conn.execute(_USER_OF_AAI_UID, {"aai_uid": aai_uid}).first()
    return None if row is None else int(row[0])


def record(
    conn: Connection,
    action: UserActionIn,
    users_by_aai_uid: Mapping[str, int] | None = None,
    *,
    message_digest: str | None = None,
) -> Recorded:
    """Store one action. The caller's transaction makes it durable.

    An action naming only an AAI identity is given its user from `users_by_aai_uid` (the
    serving snapshot's index) or, without one, from the store. `message_digest` marks an
    action that came over the databus (see `recommender.databus`).
    """
    user_id = action.user_id
    if user_id is None and action.aai_uid:
        user_id = _user_of(conn, action.aai_uid, users_by_aai_uid)
    root = action.source.root
    linked, panel_click = _linked_impression(conn, action)
    service_id = resolve_service(action)
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
        "root_resource_id": _text_or_none(root.resource_id if root else None),
        "target_visit_id": action.target.visit_id,
        "target_page_id": action.target.page_id,
        "action_type": action.action.type,
        "action_text": action.action.text,
        "is_order": action.action.order,
        "service_id": service_id,
        "recommendation_id": linked,
        "message_digest": message_digest,
    }
    action_id = int(conn.execute(_INSERT, values).scalar_one())
    shown = impressions.arm_of(conn, linked) if linked is not None else None
    return Recorded(
        id=action_id,
        recommendation_id=linked,
        engine=shown.engine if shown is not None else None,
        panel_click=panel_click,
        order=action.action.order,
        experiment_id=shown.experiment_id if shown is not None else None,
        arm=shown.arm if shown is not None else None,
        service_action=None
        if service_id is None
        else ServiceAction(
            id=action_id,
            unique_id=action.unique_id,
            user_id=user_id,
            service_id=service_id,
            at=action.timestamp.timestamp(),
            ordered=action.action.order,
        ),
    )


def all_orders(conn: Connection) -> list[tuple[int, int]]:
    """(user, service) of every order a logged-in user placed (never recommended again)."""
    rows = conn.execute(
        select(UserAction.user_id, UserAction.service_id).where(
            UserAction.user_id.is_not(None),
            UserAction.is_order.is_(True),
            UserAction.service_id.is_not(None),
        )
    )
    return [(int(user), int(service)) for user, service in rows if user is not None and service]


def on_services(conn: Connection, after: int, upto: int) -> list[ServiceAction]:
    """Actions on a service stored with an id in (after, upto], in id order."""
    rows = conn.execute(
        select(
            UserAction.id,
            UserAction.unique_id,
            UserAction.user_id,
            UserAction.service_id,
            UserAction.timestamp,
            UserAction.is_order,
        )
        .where(
            UserAction.id > after,
            UserAction.id <= upto,
            UserAction.service_id.is_not(None),
        )
        .order_by(UserAction.id)
    )
    return [
        ServiceAction(
            id=int(row[0]),
            unique_id=str(row[1]),
            user_id=None if row[2] is None else int(row[2]),
            service_id=int(row[3] or 0),
            at=row[4].timestamp(),
            ordered=bool(row[5]),
        )
        for row in rows
    ]
