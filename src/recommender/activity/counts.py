"""Popularity counted by the database: distinct users per service, overall and per interest."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Connection, Select, Subquery, func, select, union

from recommender.activity.usage import USER_FEATURES
from recommender.arrays import FloatArray, IntArray
from recommender.engines.popularity import CONTEXT_FEATURES, PopularityModel
from recommender.store.arrays import fetch_array
from recommender.store.schema import Base, Project, Service, User, UserAction


def _uses() -> Select[tuple[int, int]]:
    """Each (user, service) pair popularity counts once: the dump's accessed services and
    projects, and orders of logged-in users, on services the catalogue holds."""
    tables = Base.metadata.tables
    accessed = tables["user_accessed_services"]
    project_services = tables["project_services"]
    pairs = union(
        select(accessed.c.user_id, accessed.c.service_id),
        select(Project.user_id, project_services.c.service_id).join(
            project_services, project_services.c.project_id == Project.id
        ),
        select(UserAction.user_id, UserAction.service_id).where(
            UserAction.user_id.is_not(None),
            UserAction.service_id.is_not(None),
            UserAction.is_order.is_(True),
        ),
    ).subquery()
    return select(pairs.c.user_id, pairs.c.service_id).join(
        Service, Service.id == pairs.c.service_id
    )


def _positions(ids: IntArray, sorted_ids: IntArray) -> tuple[IntArray, np.ndarray]:
    """Positions of `ids` in `sorted_ids`, and which of them are there at all."""
    if sorted_ids.shape[0] == 0:
        return np.zeros(ids.shape[0], dtype=np.int64), np.zeros(ids.shape[0], dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_ids, ids), sorted_ids.shape[0] - 1)
    return pos, np.asarray(sorted_ids[pos] == ids)


def counted_popularity(conn: Connection, smoothing: float) -> PopularityModel:
    """The model `PopularityEngine.fit` learns from the store's accessed services, projects and
    orders, with every count made by the database: what this process holds grows with the
    services and interests, never with the users, whose number only the database reads."""
    service_ids = np.asarray(
        conn.execute(select(Service.id).order_by(Service.id)).scalars().all(), dtype=np.int64
    )
    uses = _uses().subquery()
    per_service = fetch_array(
        conn, select(uses.c.service_id, func.count()).group_by(uses.c.service_id), 2
    )
    counts = np.zeros(service_ids.shape[0], dtype=np.float32)
    at, _ = _positions(per_service[:, 0], service_ids)
    counts[at] = per_service[:, 1]
    everyone = union(select(User.id), select(uses.c.user_id)).subquery()
    n_users = int(conn.execute(select(func.count()).select_from(everyone)).scalar_one())
    context: dict[str, tuple[IntArray, sp.csr_matrix, FloatArray]] = {}
    for feature in CONTEXT_FEATURES:
        found = _context(conn, feature, service_ids, uses)
        if found is not None:
            context[feature] = found
    return PopularityModel(
        item_ids=service_ids,
        counts=counts,
        n_users=n_users,
        context=context,
        smoothing=smoothing,
    )


def _context(
    conn: Connection, feature: str, service_ids: IntArray, uses: Subquery
) -> tuple[IntArray, sp.csr_matrix, FloatArray] | None:
    """(values, value x service distinct users, users per value) for one declared interest;
    None when its vocabulary is empty, as the engine leaves such a feature out."""
    vocab_table, link_table, column = USER_FEATURES[feature]
    tables = Base.metadata.tables
    vocab_ids = tables[vocab_table].c.id
    vocab = np.asarray(
        conn.execute(select(vocab_ids).order_by(vocab_ids)).scalars().all(), dtype=np.int64
    )
    if vocab.shape[0] == 0:
        return None
    link = tables[link_table]
    value = link.c[column]
    cells = fetch_array(
        conn,
        select(value, uses.c.service_id, func.count())
        .join(uses, uses.c.user_id == link.c.user_id)
        .group_by(value, uses.c.service_id),
        3,
    )
    rows, known_value = _positions(cells[:, 0], vocab)
    cols, known_service = _positions(cells[:, 1], service_ids)
    keep = known_value & known_service
    table = sp.csr_matrix(
        (cells[keep, 2].astype(np.float32), (rows[keep], cols[keep])),
        shape=(vocab.shape[0], service_ids.shape[0]),
    )
    members = fetch_array(conn, select(value, func.count(link.c.user_id)).group_by(value), 2)
    per_value = np.zeros(vocab.shape[0], dtype=np.float32)
    at, known = _positions(members[:, 0], vocab)
    per_value[at[known]] = members[known, 1]
    return vocab, table, per_value
