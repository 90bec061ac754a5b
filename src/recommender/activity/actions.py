"""User actions: stored as sent, resolved to a user, a service and the impression they follow."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select

from recommender.activity.links import Link
from recommender.activity.links import resolve as resolve_links
from recommender.activity.pages import service_of_page
from recommender.contract.user_actions import UserActionIn
from recommender.store.bulk import insert_rows
from recommender.store.ids import take_ids
from recommender.store.schema import User, UserAction, utcnow

# Built once: a statement built per action costs more than running it (actions come by the
# thousand a second from the databus).
_INSERT = insert(UserAction).returning(UserAction.id)
# A group's rows in one go, without RETURNING: ids in the order of the rows would cost SQLite a
# statement per row (its RETURNING promises no order); `record_many` takes them first and
# hands its rows to the driver (`store.bulk`), as the store writer's thread shares the
# interpreter with the event loop.
_INSERT_ROWS = insert(UserAction)
_TABLE = cast(Table, UserAction.__table__)
_USERS_OF_AAI_UIDS = select(User.aai_uid, User.id).where(
    User.aai_uid.in_(bindparam("aai_uids", expanding=True))
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


def _users_of(
    conn: Connection, batch: Sequence[UserActionIn], users_by_aai_uid: Mapping[str, int] | None
) -> Mapping[str, int]:
    """Users of the actions that name only an AAI identity."""
    wanted = {action.aai_uid for action in batch if action.user_id is None and action.aai_uid}
    if not wanted:
        return {}
    if users_by_aai_uid is not None:
        return users_by_aai_uid
    rows = conn.execute(_USERS_OF_AAI_UIDS, {"aai_uids": sorted(wanted)})
    return {str(aai_uid): int(user_id) for aai_uid, user_id in rows}


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
    [row], [link] = _rows(conn, [action], users_by_aai_uid, [message_digest])
    action_id = int(conn.execute(_INSERT, row).scalar_one())
    return _recorded(action, row, link, action_id)


# An action and the AAI index of the serving snapshot it was received with.
Received = tuple[UserActionIn, Mapping[str, int] | None]


def record_many(conn: Connection, received: Sequence[Received]) -> list[Recorded]:
    """Store a group of actions as `record` would store each, in this order, and return what
    it would for each: one lookup of each kind and one insert per run of actions received with
    the same AAI index (the whole group, unless a new catalogue came in between).

    The store writer hands the actions of one batch over together: separately, each cost
    three statements on the thread the event loop shares the interpreter with."""
    if len(received) == 1:
        action, users_by_aai_uid = received[0]
        return [record(conn, action, users_by_aai_uid)]
    recorded: list[Recorded] = []
    for users_by_aai_uid, run in _runs(received):
        rows, links = _rows(conn, run, users_by_aai_uid, None)
        ids = take_ids(conn, UserAction.__tablename__, len(rows))
        insert_rows(conn, _TABLE, [row | {"id": i} for row, i in zip(rows, ids, strict=True)])
        recorded += [
            _recorded(action, row, link, i)
            for action, row, link, i in zip(run, rows, links, ids, strict=True)
        ]
    return recorded


def _runs(
    received: Sequence[Received],
) -> Iterator[tuple[Mapping[str, int] | None, list[UserActionIn]]]:
    for _, run in groupby(received, key=lambda item: id(item[1])):
        items = list(run)
        yield items[0][1], [action for action, _ in items]


def store_many(
    conn: Connection,
    batch: Sequence[UserActionIn],
    users_by_aai_uid: Mapping[str, int] | None = None,
    *,
    digests: Sequence[str | None] | None = None,
) -> None:
    """Store a group of actions as `record` would store each, in this order, with one lookup
    of each kind and one insert for the whole group (a few statements per action cost the
    databus most of its time)."""
    if batch:
        rows, _ = _rows(conn, batch, users_by_aai_uid, digests)
        conn.execute(_INSERT_ROWS, rows)


def _rows(
    conn: Connection,
    batch: Sequence[UserActionIn],
    users_by_aai_uid: Mapping[str, int] | None,
    digests: Sequence[str | None] | None,
) -> tuple[list[dict[str, Any]], list[Link]]:
    """The row of each action, and the impression it is linked to."""
    users = _users_of(conn, batch, users_by_aai_uid)
    links = resolve_links(conn, batch)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for number, (action, link) in enumerate(zip(batch, links, strict=True)):
        root = action.source.root
        user_id = action.user_id
        if user_id is None and action.aai_uid:
            user_id = users.get(action.aai_uid)
        rows.append(
            {
                "received_at": now,
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
                "service_id": resolve_service(action),
                "recommendation_id": link.recommendation_id,
                "message_digest": None if digests is None else digests[number],
            }
        )
    return rows, links


def _recorded(action: UserActionIn, row: dict[str, Any], link: Link, action_id: int) -> Recorded:
    shown = link.shown
    service_id = row["service_id"]
    return Recorded(
        id=action_id,
        recommendation_id=link.recommendation_id,
        engine=shown.engine if shown is not None else None,
        panel_click=link.panel_click,
        order=action.action.order,
        experiment_id=shown.experiment_id if shown is not None else None,
        arm=shown.arm if shown is not None else None,
        service_action=None
        if service_id is None
        else ServiceAction(
            id=action_id,
            unique_id=action.unique_id,
            user_id=row["user_id"],
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
