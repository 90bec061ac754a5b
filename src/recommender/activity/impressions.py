"""The impression log: every answer of `POST /recommendations`, written as it is served."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from recommender.store.schema import Recommendation, utcnow

# Built once: user actions look impressions up by the thousand a second.
_EXISTS = select(Recommendation.id).where(Recommendation.id == bindparam("id"))
_ARM_OF = select(Recommendation.engine, Recommendation.experiment_id, Recommendation.arm).where(
    Recommendation.id == bindparam("id")
)
_LATEST_ON_VISIT = (
    select(Recommendation.id)
    .where(Recommendation.visit_id == bindparam("visit_id"))
    .order_by(Recommendation.id.desc())
    .limit(1)
)
_LATEST_ON_PANEL = (
    select(Recommendation.id)
    .where(
        Recommendation.visit_id == bindparam("visit_id"),
        Recommendation.panel_id == bindparam("panel_id"),
    )
    .order_by(Recommendation.id.desc())
    .limit(1)
)


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


# One multi-row statement; ids come back in the order of the rows.
_INSERT_MANY = insert(Recommendation).returning(Recommendation.id, sort_by_parameter_order=True)


def write_many(conn: Connection, shown: list[Impression]) -> list[int]:
    """Store impressions in one statement; returns their ids, in order."""
    now = utcnow()
    rows = [impression.__dict__ | {"created_at": now} for impression in shown]
    return [int(i) for i in conn.execute(_INSERT_MANY, rows).scalars()]


def exists(conn: Connection, recommendation_id: int) -> bool:
    return conn.execute(_EXISTS, {"id": recommendation_id}).first() is not None


def find_by_panel(conn: Connection, visit_id: str, panel_id: str | None) -> int | None:
    """The latest impression shown on a page visit's panel (how old-style clicks are linked)."""
    if panel_id:
        row = conn.execute(_LATEST_ON_PANEL, {"visit_id": visit_id, "panel_id": panel_id}).first()
    else:
        row = conn.execute(_LATEST_ON_VISIT, {"visit_id": visit_id}).first()
    return None if row is None else int(row[0])


@dataclass(frozen=True)
class Shown:
    """Who served an impression: the engine, and the experiment arm it belonged to."""

    engine: str
    experiment_id: int | None
    arm: str | None


def arm_of(conn: Connection, recommendation_id: int) -> Shown | None:
    row = conn.execute(_ARM_OF, {"id": recommendation_id}).first()
    if row is None:
        return None
    return Shown(engine=str(row[0]), experiment_id=row[1], arm=row[2])
