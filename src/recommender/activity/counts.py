"""Popularity counted by the database (distinct users per service, overall and per interest),
stored once a count for every serving process to read back."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp
from sqlalchemy import Connection, Subquery, delete, func, select, union

from recommender.activity.usage import USER_FEATURES
from recommender.arrays import FloatArray, IntArray
from recommender.engines.lookup import positions
from recommender.engines.popularity import CONTEXT_FEATURES, PopularityModel
from recommender.store import state
from recommender.store.arrays import fetch_array
from recommender.store.bulk import Row, table_writer
from recommender.store.schema import (
    Base,
    PopularityAudience,
    PopularityCount,
    Project,
    Service,
    User,
    UserAction,
)

# The feature (and value 0) of the counts over every user.
OVERALL = ""
# Rows handed to the database at once when storing: a row as a Python tuple costs about 100
# bytes, and a million users' per-interest counts run to millions of rows.
STORE_BATCH = 100_000


@dataclass(frozen=True, eq=False)
class Counts:
    """What popularity learns from the store, as rows that grow with the services and the
    interests, never with the users."""

    per_service: IntArray  # (n, 2): service, distinct users
    n_users: int
    per_interest: Mapping[str, IntArray]  # feature -> (n, 3): value, service, distinct users
    audiences: Mapping[str, IntArray]  # feature -> (n, 2): value, users who declared it


@dataclass(frozen=True)
class Stamp:
    """What stored counts were counted on: a catalogue version and the newest user action
    then (readers add the first uses after it themselves), and when, in epoch seconds."""

    catalog: int
    through: int
    at: float


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


def _summed(rows: IntArray) -> IntArray:
    """One row per key (every column but the last) with the sum of the last: the two parts
    of `_uses` may both count a key."""
    if rows.shape[0] == 0:
        return rows
    keys, inverse = np.unique(rows[:, :-1], axis=0, return_inverse=True)
    sums = np.bincount(inverse.reshape(-1), weights=rows[:, -1], minlength=keys.shape[0])
    return np.column_stack([keys, sums.astype(np.int64)])


def count(conn: Connection) -> Counts:
    """Count in the database, now: its time grows with the users (a minute at a million on
    SQLite), what comes back only with the services and interests."""
    parts = _uses()
    per_service = _summed(
        np.concatenate(
            [
                fetch_array(
                    conn, select(part.c.service_id, func.count()).group_by(part.c.service_id), 2
                )
                for part in parts
            ]
        )
    )
    # Accessed services name users of the dump; only the rest can add users it lacks. NOT
    # EXISTS, not NOT IN: PostgreSQL cannot turn NOT IN into an anti-join, and with a
    # million users its subquery outgrew the hash it is kept in and was scanned once per
    # row (still counting after 25 minutes at 100,000 services).
    known = select(User.id).where(User.id == parts[1].c.user_id).exists()
    newcomers = select(func.count(func.distinct(parts[1].c.user_id))).where(~known)
    n_users = int(conn.execute(select(func.count(User.id))).scalar_one()) + int(
        conn.execute(newcomers).scalar_one()
    )
    per_interest = {}
    audiences = {}
    for feature in CONTEXT_FEATURES:
        _, link_table, column = USER_FEATURES[feature]
        link = Base.metadata.tables[link_table]
        value = link.c[column]
        per_interest[feature] = _summed(
            np.concatenate(
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
        )
        audiences[feature] = fetch_array(
            conn, select(value, func.count(link.c.user_id)).group_by(value), 2
        )
    return Counts(per_service, n_users, per_interest, audiences)


def model_of(conn: Connection, counts: Counts, smoothing: float) -> PopularityModel:
    """The model `PopularityEngine.fit` learns, from counts made on the catalogue `conn`
    holds: every service of it, and every value of the interests' vocabularies."""
    service_ids = np.asarray(
        conn.execute(select(Service.id).order_by(Service.id)).scalars().all(), dtype=np.int64
    )
    per_service = np.zeros(service_ids.shape[0], dtype=np.float32)
    at = positions(service_ids, counts.per_service[:, 0])
    np.add.at(per_service, at[at >= 0], counts.per_service[at >= 0, 1])
    context: dict[str, tuple[IntArray, sp.csr_matrix, FloatArray]] = {}
    for feature in CONTEXT_FEATURES:
        vocab_ids = Base.metadata.tables[USER_FEATURES[feature][0]].c.id
        vocab = np.asarray(
            conn.execute(select(vocab_ids).order_by(vocab_ids)).scalars().all(), dtype=np.int64
        )
        # The engine leaves out a feature whose vocabulary is empty.
        if vocab.shape[0] == 0:
            continue
        cells = counts.per_interest.get(feature, np.empty((0, 3), dtype=np.int64))
        rows = positions(vocab, cells[:, 0])
        cols = positions(service_ids, cells[:, 1])
        keep = (rows >= 0) & (cols >= 0)
        table = sp.csr_matrix(
            (cells[keep, 2].astype(np.float32), (rows[keep], cols[keep])),
            shape=(vocab.shape[0], service_ids.shape[0]),
        )
        members = counts.audiences.get(feature, np.empty((0, 2), dtype=np.int64))
        per_value = np.zeros(vocab.shape[0], dtype=np.float32)
        found = positions(vocab, members[:, 0])
        per_value[found[found >= 0]] = members[found >= 0, 1]
        context[feature] = (vocab, table, per_value)
    return PopularityModel(
        item_ids=service_ids,
        counts=per_service,
        n_users=counts.n_users,
        context=context,
        smoothing=smoothing,
    )


def counted_popularity(conn: Connection, smoothing: float) -> PopularityModel:
    """The model counted on the store now, without storing it."""
    return model_of(conn, count(conn), smoothing)


def store(conn: Connection, counts: Counts, stamp: Stamp) -> None:
    """Replace the stored counts in the caller's transaction; readers see the old ones, or
    none, until it commits."""
    conn.execute(delete(PopularityCount))
    conn.execute(delete(PopularityAudience))
    writer = table_writer(conn)
    columns = ("feature", "value_id", "service_id", "users")
    # One batch's tuples at a time, converted from the arrays as they go.
    for begin in range(0, counts.per_service.shape[0], STORE_BATCH):
        chunk = counts.per_service[begin : begin + STORE_BATCH]
        writer.write(
            PopularityCount.__tablename__,
            columns,
            [(OVERALL, 0, service, users) for service, users in chunk.tolist()],
        )
    for feature, cells in counts.per_interest.items():
        for begin in range(0, cells.shape[0], STORE_BATCH):
            chunk = cells[begin : begin + STORE_BATCH]
            writer.write(
                PopularityCount.__tablename__,
                columns,
                [(feature, value, service, users) for value, service, users in chunk.tolist()],
            )
    audiences: list[Row] = [(OVERALL, 0, counts.n_users)]
    for feature, members in counts.audiences.items():
        audiences.extend((feature, value, users) for value, users in members.tolist())
    writer.write(PopularityAudience.__tablename__, ("feature", "value_id", "users"), audiences)
    state.put(conn, state.POPULARITY, json.dumps(asdict(stamp)))


def stamp_of(conn: Connection) -> Stamp | None:
    """The stamp of the stored counts, whatever catalogue they were counted on."""
    entry = state.read(conn, state.POPULARITY)
    return None if entry is None else Stamp(**json.loads(entry.value))


def stored(conn: Connection) -> tuple[Counts, Stamp] | None:
    """The stored counts, if they were counted on the catalogue `conn` holds now."""
    stamp = stamp_of(conn)
    catalog = state.read(conn, state.CATALOG)
    if stamp is None or catalog is None or stamp.catalog != catalog.version:
        return None
    n_users = conn.execute(
        select(PopularityAudience.users).where(
            PopularityAudience.feature == OVERALL, PopularityAudience.value_id == 0
        )
    ).scalar_one_or_none()
    per_service = fetch_array(
        conn,
        select(PopularityCount.service_id, PopularityCount.users).where(
            PopularityCount.feature == OVERALL
        ),
        2,
    )
    per_interest = {}
    audiences = {}
    for feature in CONTEXT_FEATURES:
        per_interest[feature] = fetch_array(
            conn,
            select(
                PopularityCount.value_id, PopularityCount.service_id, PopularityCount.users
            ).where(PopularityCount.feature == feature),
            3,
        )
        audiences[feature] = fetch_array(
            conn,
            select(PopularityAudience.value_id, PopularityAudience.users).where(
                PopularityAudience.feature == feature
            ),
            2,
        )
    counts = Counts(per_service, int(n_users or 0), per_interest, audiences)
    return counts, stamp


def newest_action(conn: Connection) -> int:
    return int(conn.execute(select(func.max(UserAction.id))).scalar_one() or 0)


def count_and_store(conn: Connection) -> Stamp | None:
    """Count and store in the caller's transaction, on the catalogue it holds (none: nothing
    to count). Loading a dump calls this before it commits, so that no process sees the new
    catalogue without its counts."""
    catalog = state.read(conn, state.CATALOG)
    if catalog is None:
        return None
    stamp = Stamp(catalog=catalog.version, through=newest_action(conn), at=time.time())
    store(conn, count(conn), stamp)
    return stamp
