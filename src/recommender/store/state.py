"""Versioned named values in the `state` table, which serving processes poll to see changes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from recommender.store.schema import StateEntry, utcnow

CATALOG = "catalog"  # value: id of the dump now loaded
MODELS = "models"  # value: unused; the version moves whenever a model is activated
DEFAULT_ENGINE = "default_engine"  # value: the engine name chosen at run time
EXPERIMENTS = "experiments"  # value: the experiment changed last; the version moves on change
SCHEDULE = "schedule"  # value: JSON {action_id, at} of the last scheduled training
TRANSITIONS = "transitions"  # value: the impression id up to which every transition is stored
POPULARITY = "popularity"  # value: JSON {catalog, through, at} of the stored popularity counts


@dataclass(frozen=True)
class Versioned:
    value: str
    version: int


def read_all(conn: Connection) -> dict[str, Versioned]:
    rows = conn.execute(select(StateEntry.key, StateEntry.value, StateEntry.version))
    return {key: Versioned(value=value, version=version) for key, value, version in rows}


def read(conn: Connection, key: str) -> Versioned | None:
    row = conn.execute(
        select(StateEntry.value, StateEntry.version).where(StateEntry.key == key)
    ).first()
    return None if row is None else Versioned(value=row[0], version=row[1])


def put(conn: Connection, key: str, value: str) -> int:
    """Set a value and move its version forward; returns the new version."""
    result = conn.execute(
        update(StateEntry)
        .where(StateEntry.key == key)
        .values(value=value, version=StateEntry.version + 1, updated_at=utcnow())
        .returning(StateEntry.version)
    ).first()
    if result is not None:
        return int(result[0])
    try:
        with conn.begin_nested():
            conn.execute(
                insert(StateEntry).values(key=key, value=value, version=1, updated_at=utcnow())
            )
        return 1
    except IntegrityError:
        # Another process inserted the key first: fall back to moving its version.
        return put(conn, key, value)
