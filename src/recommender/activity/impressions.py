"""The impression log: every answer of `POST /recommendations`, written as it is served."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, insert, select

from recommender.store.bulk import insert_rows
from recommender.store.ids import take_ids
from recommender.store.schema import Recommendation, utcnow

# Built once: user actions look impressions up by the thousand a second, a group at a time.
_LATEST_ON_PANELS = (
    select(Recommendation.visit_id, Recommendation.panel_id, func.max(Recommendation.id))
    .where(Recommendation.visit_id.in_(bindparam("visit_ids", expanding=True)))
    .group_by(Recommendation.visit_id, Recommendation.panel_id)
)
_ARMS_OF = select(
    Recommendation.id, Recommendation.engine, Recommendation.experiment_id, Recommendation.arm
).where(Recommendation.id.in_(bindparam("ids", expanding=True)))


@dataclass(frozen=True)
class Impression:
    requested_at: datetime
    unique_id: str
    visit_id: str | None
    page_id: str
    panel_id: str
    client_id: str | None
    user_id: int | None
    aai_uid: str | None
    engine_requested: str | None
    engine: str
    model_version: int | None
    catalog_version: int
    search_data: dict[str, Any]
    candidates: list[int] | None
    candidate_count: int
    service_ids: list[int]
    scores: list[float]
    experiment_id: int | None = None
    arm: str | None = None
    propensity: float = 1.0
    # One per service, as the answer gave them; imported panels may have none.
    explanations: list[str] = field(default_factory=list)
    # What a random arm drew from and the query it saw (see `Recommendation.context`).
    context: dict[str, Any] | None = None


def write(conn: Connection, impression: Impression) -> int:
    """Store one impression; returns its id (the response's `recommendation_id`)."""
    return write_many(conn, [impression])[0]


# Declarative classes type their table as any FROM clause; a mapped class's is a Table.
_TABLE = cast(Table, Recommendation.__table__)
_INSERT_ONE = insert(Recommendation).returning(Recommendation.id)


def write_many(conn: Connection, shown: list[Impression]) -> list[int]:
    """Store impressions in bulk (one COPY on PostgreSQL, multi-row INSERTs on SQLite, see
    `store.bulk`); returns their ids, in order.

    The ids are taken first and written with the rows. Asked to return them in row order
    instead, SQLAlchemy inserts one row per statement on SQLite (which promises no order
    for a multi-row insert's rows) and sends PostgreSQL one statement with 22 parameters a
    row, which the driver parses anew every time (110 us a row). Either ran on the thread
    the event loop shares the interpreter with."""
    now = utcnow()
    if len(shown) == 1:  # one statement, one round trip: what a quiet server sends
        row = shown[0].__dict__ | {"created_at": now}
        return [int(conn.execute(_INSERT_ONE, row).scalar_one())]
    ids = take_ids(conn, Recommendation.__tablename__, len(shown))
    rows = [
        impression.__dict__ | {"id": i, "created_at": now}
        for impression, i in zip(shown, ids, strict=True)
    ]
    insert_rows(conn, _TABLE, rows)
    return ids


def latest_on_panels(conn: Connection, visit_ids: set[str]) -> dict[str, dict[str, int]]:
    """For each page visit, the latest impression of each panel shown on it."""
    found: dict[str, dict[str, int]] = {}
    if visit_ids:
        rows = conn.execute(_LATEST_ON_PANELS, {"visit_ids": sorted(visit_ids)})
        for visit_id, panel_id, latest in rows:
            found.setdefault(str(visit_id), {})[str(panel_id)] = int(latest)
    return found


def on_panel(panels: dict[str, int], panel_id: str | None) -> int | None:
    """Of one visit's `latest_on_panels`, the panel `panel_id`'s (or, without one, the visit's
    latest impression: how old-style clicks are linked)."""
    if panel_id:
        return panels.get(panel_id)
    return max(panels.values(), default=None)


@dataclass(frozen=True)
class Shown:
    """Who served an impression: the engine, and the experiment arm it belonged to."""

    engine: str
    experiment_id: int | None
    arm: str | None


def arms_of(conn: Connection, recommendation_ids: set[int]) -> dict[int, Shown]:
    """Who served each of these impressions; ids that name none are left out."""
    if not recommendation_ids:
        return {}
    rows = conn.execute(_ARMS_OF, {"ids": sorted(recommendation_ids)})
    return {
        int(row[0]): Shown(engine=str(row[1]), experiment_id=row[2], arm=row[3]) for row in rows
    }
