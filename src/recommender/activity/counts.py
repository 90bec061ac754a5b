"""Popularity counted by the database: distinct users per service, overall and per interest."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Connection, Subquery, func, select, union

from recommender.activity.usage import USER_FEATURES
from recommender.arrays import FloatArray, IntArray
from recommender.engines.lookup import positions
from recommender.engines.popularity import CONTEXT_FEATURES, PopularityModel
from recommender.store.arrays import fetch_array
from recommender.store.schema import Base, Project, Service, User, UserAction


def _uses() -> tuple[Subquery, Subquery]:
    """Each (user, service) pair popularity counts, once, in two parts that share no pair:
    the dump's accessed services (unique by their key: scanned, never deduplicated), then
    projects and logged-in users' orders that the first part lacks (few, deduplicated); both
    on services the catalogue holds. A union of all three made the database sort every
    user's services once per count: start-up took a third longer at a million users."""
    tables = Base.metadata.tables
    accessed = tables["user_accessed_services"]
    project_services = tables["project_services"]
    first = (
        select(accessed.c.user_id, accessed.c.service_id)
        .join(Service, Service.id == accessed.c.service_id)
        .subquery()
    )
    others = union(
        select(Project.user_id, project_services.c.service_id).join(
            project_services, project_services.c.project_id == Project.id
        ),
        select(UserAction.user_id, UserAction.service_id).where(
            UserAction.user_id.is_not(None),
            UserAction.service_id.is_not(None),
            UserAction.is_order.is_(True),
        ),
    ).subquery()
    already = (
        select(accessed.c.user_id)
        .where(
            accessed.c.user_id == others.c.user_id,
            accessed.c.service_id == others.c.service_id,
        )
        .exists()
    )
    rest = (
        select(others.c.user_id, others.c.service_id)
        .join(Service, Service.id == others.c.service_id)
        .where(~already)
        .subquery()
    )
    return first, rest


def counted_popularity(conn: Connection, smoothing: float) -> PopularityModel:
    """The model `PopularityEngine.fit` learns from the store's accessed services, projects and
    orders, with every count made by the database: what this process holds grows with the
    services and interests, never with the users, whose number only the database reads."""
    service_ids = np.asarray(
        conn.execute(select(Service.id).order_by(Service.id)).scalars().all(), dtype=np.int64
    )
    parts = _uses()
    per_service = np.concatenate(
        [
            fetch_array(
                conn, select(part.c.service_id, func.count()).group_by(part.c.service_id), 2
            )
            for part in parts
        ]
    )
    counts = np.zeros(service_ids.shape[0], dtype=np.float32)
    # Every part joins the catalogue's services: each id has a position.
    np.add.at(counts, positions(service_ids, per_service[:, 0]), per_service[:, 1])
    # Accessed services name users of the dump; only the rest can add users it lacks.
    newcomers = select(func.count(func.distinct(parts[1].c.user_id))).where(
        parts[1].c.user_id.not_in(select(User.id))
    )
    n_users = int(conn.execute(select(func.count(User.id))).scalar_one()) + int(
        conn.execute(newcomers).scalar_one()
    )
    context: dict[str, tuple[IntArray, sp.csr_matrix, FloatArray]] = {}
    for feature in CONTEXT_FEATURES:
        found = _context(conn, feature, service_ids, parts)
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
    conn: Connection, feature: str, service_ids: IntArray, parts: tuple[Subquery, Subquery]
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
    cells = np.concatenate(
        [
            fetch_array(
                conn,
                select(value, part.c.service_id, func.count())
                .join(part, part.c.user_id == link.c.user_id)
                .group_by(value, part.c.service_id),
                3,
            )
            for part in parts
        ]
    )
    rows = positions(vocab, cells[:, 0])
    cols = positions(service_ids, cells[:, 1])
    keep = (rows >= 0) & (cols >= 0)
    table = sp.csr_matrix(
        (cells[keep, 2].astype(np.float32), (rows[keep], cols[keep])),
        shape=(vocab.shape[0], service_ids.shape[0]),
    )
    members = fetch_array(conn, select(value, func.count(link.c.user_id)).group_by(value), 2)
    per_value = np.zeros(vocab.shape[0], dtype=np.float32)
    at = positions(vocab, members[:, 0])
    per_value[at[at >= 0]] = members[at >= 0, 1]
    return vocab, table, per_value
