"""The latest panels served, each with the actions its visitor took from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select

from recommender.store.schema import Recommendation, UserAction


@dataclass(frozen=True)
class FollowUp:
    """One action linked to a panel: the click on it, or a later step of that journey."""

    at: datetime
    action_type: str
    text: str
    page_id: str
    service_id: int | None
    order: bool


@dataclass(frozen=True)
class ServedPanel:
    id: int
    created_at: datetime
    unique_id: str
    user_id: int | None
    page_id: str
    panel_id: str
    engine: str
    model_version: int | None
    service_ids: list[int]
    scores: list[float]
    explanations: list[str]
    follow_ups: list[FollowUp] = field(default_factory=list)


def recent_panels(conn: Connection, *, limit: int) -> list[ServedPanel]:
    """The `limit` newest impressions, newest first, each with its linked actions in order."""
    rows = conn.execute(
        select(
            Recommendation.id,
            Recommendation.created_at,
            Recommendation.unique_id,
            Recommendation.user_id,
            Recommendation.page_id,
            Recommendation.panel_id,
            Recommendation.engine,
            Recommendation.model_version,
            Recommendation.service_ids,
            Recommendation.scores,
            Recommendation.explanations,
        )
        .order_by(Recommendation.id.desc())
        .limit(limit)
    ).all()
    panels = [
        ServedPanel(**{**row._mapping, "explanations": list(row.explanations or [])})
        for row in rows
    ]
    if not panels:
        return panels
    by_id = {panel.id: panel for panel in panels}
    actions = conn.execute(
        select(
            UserAction.recommendation_id,
            UserAction.timestamp,
            UserAction.action_type,
            UserAction.action_text,
            UserAction.target_page_id,
            UserAction.service_id,
            UserAction.is_order,
        )
        .where(UserAction.recommendation_id.in_(list(by_id)))
        .order_by(UserAction.timestamp, UserAction.id)
    ).all()
    for action in actions:
        by_id[int(action.recommendation_id)].follow_ups.append(
            FollowUp(
                at=action.timestamp,
                action_type=action.action_type,
                text=action.action_text,
                page_id=action.target_page_id,
                service_id=action.service_id,
                order=bool(action.is_order),
            )
        )
    return panels
