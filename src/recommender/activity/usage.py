"""What people used, from the store: accessed services, projects, orders and clicks, weighted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Connection, Executable, and_, func, select

from recommender.activity.actions import ServiceAction
from recommender.arrays import DoubleArray, IntArray
from recommender.catalog.loader import SERVICE_LINKS, USER_LINKS
from recommender.config import Settings
from recommender.interactions import Interactions
from recommender.store.arrays import CHUNK_ROWS, fetch_array
from recommender.store.schema import Base, Project, Service, User, UserAction

# feature -> (vocabulary table, link table, value column); the vocabulary shares the name.
ITEM_FEATURES: dict[str, tuple[str, str, str]] = {
    name: (name, table, column)
    for name, (table, column) in SERVICE_LINKS.items()
    if name not in ("related_services", "required_services")
}
USER_FEATURES: dict[str, tuple[str, str, str]] = {
    name: (name, table, column) for name, (table, column) in USER_LINKS.items()
}


@dataclass(frozen=True)
class InteractionWeights:
    """How much each kind of evidence counts; zero leaves that kind out."""

    accessed: float = 1.0
    project: float = 1.0
    order: float = 2.0
    click: float = 0.5


def _pairs(conn: Connection, statement: Executable) -> IntArray:
    # Ids stay integers all the way: an id near 2**63 does not survive a float64.
    return fetch_array(conn, statement, 2, np.int64)


def _multi_hot(
    conn: Connection, spec: tuple[str, str, str], owners: IntArray, owner_column: str
) -> tuple[sp.csr_matrix, IntArray]:
    vocab_table, link_table, column = spec
    tables = Base.metadata.tables
    vocab = np.asarray(
        conn.execute(select(tables[vocab_table].c.id).order_by(tables[vocab_table].c.id))
        .scalars()
        .all(),
        dtype=np.int64,
    )
    link = tables[link_table]
    pairs = fetch_array(conn, select(link.c[owner_column], link.c[column]), 2)
    rows = np.searchsorted(owners, pairs[:, 0])
    cols = np.searchsorted(vocab, pairs[:, 1])
    keep = (rows < owners.shape[0]) & (cols < vocab.shape[0])
    keep[keep] &= (owners[rows[keep]] == pairs[keep, 0]) & (vocab[cols[keep]] == pairs[keep, 1])
    matrix = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], cols[keep])),
        shape=(owners.shape[0], vocab.shape[0]),
    )
    matrix.sum_duplicates()
    return matrix, vocab


def build_interactions(
    conn: Connection,
    weights: InteractionWeights | None = None,
    *,
    features: bool = True,
    events: bool = True,
) -> Interactions:
    """Everything the store knows about who used what, as one weighted matrix.

    Rows are the dump's users plus logged-in users seen only in actions; columns are every
    service of the catalogue, used or not. Events from the dump (accessed services, projects)
    have no time and come first; actions follow in time order (kept only with `events`).
    """
    weights = weights or InteractionWeights()
    tables = Base.metadata.tables
    service_ids = np.asarray(
        conn.execute(select(Service.id).order_by(Service.id)).scalars().all(), dtype=np.int64
    )
    users: list[IntArray] = []
    items: list[IntArray] = []
    values: list[np.ndarray] = []
    times: list[np.ndarray] = []

    def add(pairs: IntArray, weight: float, at: DoubleArray | None = None) -> None:
        if weight <= 0 or pairs.shape[0] == 0:
            return
        users.append(pairs[:, 0])
        items.append(pairs[:, 1])
        values.append(np.full(pairs.shape[0], weight, dtype=np.float32))
        if events:  # without the event log, times are never read
            times.append(at if at is not None else np.full(pairs.shape[0], np.nan))

    accessed = tables["user_accessed_services"]
    add(
        _pairs(
            conn,
            select(accessed.c.user_id, accessed.c.service_id).order_by(
                accessed.c.user_id, accessed.c.position
            ),
        ),
        weights.accessed,
    )
    project_services = tables["project_services"]
    add(
        _pairs(
            conn,
            select(Project.user_id, project_services.c.service_id).join(
                project_services, project_services.c.project_id == Project.id
            ),
        ),
        weights.project,
    )
    logged_in = and_(UserAction.user_id.is_not(None), UserAction.service_id.is_not(None))
    for is_order, weight in ((True, weights.order), (False, weights.click)):
        if weight <= 0:
            continue
        result = conn.execute(
            select(UserAction.user_id, UserAction.service_id, UserAction.timestamp)
            .where(logged_in, UserAction.is_order.is_(is_order))
            .order_by(UserAction.timestamp),
            execution_options={"stream_results": True, "yield_per": CHUNK_ROWS},
        )
        for rows in result.partitions():
            pairs = np.asarray([(u, s) for u, s, _ in rows], dtype=np.int64).reshape(-1, 2)
            at = np.asarray([t.timestamp() for _, _, t in rows], dtype=np.float64)
            add(pairs, weight, at)

    # Each array is cut down to the known services as it is joined, and the parts let go:
    # every serving process does this at start, over every user's interactions.
    user_arr = _joined(users, np.int64)
    item_arr = _joined(items, np.int64)
    # Actions may name services a later dump removed: those events are dropped. (The ids
    # are sorted: a bisection needs no sorted copy of the events, as `isin` would.)
    known = _among(item_arr, service_ids)
    user_arr, item_arr = user_arr[known], item_arr[known]
    value_arr = _joined(values, np.float32)[known]
    time_arr = _joined(times, np.float64)[known] if times else None
    del known
    dump_users = np.asarray(conn.execute(select(User.id)).scalars().all(), dtype=np.int64)
    user_ids = np.unique(np.concatenate([dump_users, user_arr]))

    user_features, item_features, vocab = {}, {}, {}
    if features:
        for name, spec in USER_FEATURES.items():
            user_features[name], vocab[name] = _multi_hot(conn, spec, user_ids, "user_id")
        for name, spec in ITEM_FEATURES.items():
            item_features[name], vocab[name] = _multi_hot(conn, spec, service_ids, "service_id")

    return Interactions.from_events(
        user_arr,
        item_arr,
        value_arr,
        time_arr,
        user_ids=user_ids,
        item_ids=service_ids,
        user_features=user_features,
        item_features=item_features,
        feature_vocab=vocab,
        keep_events=events,
    )


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """The parts end to end; the list is emptied so that they can be freed."""
    joined = np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
    parts.clear()
    return joined


def _among(ids: IntArray, sorted_ids: IntArray) -> np.ndarray:
    """Which of `ids` are in `sorted_ids`."""
    if sorted_ids.shape[0] == 0:
        return np.zeros(ids.shape[0], dtype=bool)
    found = np.minimum(np.searchsorted(sorted_ids, ids), sorted_ids.shape[0] - 1)
    return np.asarray(sorted_ids[found] == ids)


def weights_from(settings: Settings) -> InteractionWeights:
    """The interaction weights the settings configure."""
    return InteractionWeights(
        accessed=settings.weight_accessed,
        project=settings.weight_project,
        order=settings.weight_order,
        click=settings.weight_click,
    )


def first_uses(conn: Connection, recent: Sequence[ServiceAction]) -> list[ServiceAction]:
    """The orders among `recent` (stored actions, in id order) that are a user's first use of
    the service: nothing in the dump (accessed services, projects) or an earlier order says
    the user used it before. Popularity counts these as they arrive."""
    first: dict[tuple[int, int], ServiceAction] = {}
    for action in recent:
        if action.ordered and action.user_id is not None:
            first.setdefault((action.user_id, action.service_id), action)
    if not first:
        return []
    users = sorted({user for user, _ in first})
    tables = Base.metadata.tables
    accessed = tables["user_accessed_services"]
    project_services = tables["project_services"]
    known: set[tuple[int, int]] = set()
    for statement in (
        select(accessed.c.user_id, accessed.c.service_id).where(accessed.c.user_id.in_(users)),
        select(Project.user_id, project_services.c.service_id)
        .join(project_services, project_services.c.project_id == Project.id)
        .where(Project.user_id.in_(users)),
    ):
        known.update((int(u), int(s)) for u, s in conn.execute(statement))
    earlier = conn.execute(
        select(UserAction.user_id, UserAction.service_id, func.min(UserAction.id))
        .where(
            UserAction.user_id.in_(users),
            UserAction.is_order.is_(True),
            UserAction.service_id.is_not(None),
        )
        .group_by(UserAction.user_id, UserAction.service_id)
    )
    first_order = {(int(u), int(s)): int(i) for u, s, i in earlier if u is not None and s}
    return [
        action
        for pair, action in first.items()
        if pair not in known and first_order.get(pair, action.id) >= action.id
    ]
