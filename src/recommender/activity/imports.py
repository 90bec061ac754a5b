"""Bulk import of recorded activity (a synthetic marketplace, a demo) into the store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection

from recommender.activity import actions, impressions
from recommender.contract.recommendations import RecommendationRequest
from recommender.contract.user_actions import UserActionIn


def import_recommendations(
    conn: Connection,
    records: Iterable[Mapping[str, Any]],
    users_by_aai_uid: Mapping[str, int] | None = None,
    *,
    catalog_version: int = 0,
) -> int:
    """Store served panels `{"request": ..., "served": [...], "engine": ...}` as impressions.

    A request that names only an AAI identity is resolved to its user, as serving does, so
    that imported panels and the actions that follow them belong to the same user.
    """
    count = 0
    for record in records:
        request = RecommendationRequest.model_validate(record["request"])
        user_id = request.user_id
        if user_id is None and request.aai_uid and users_by_aai_uid is not None:
            user_id = users_by_aai_uid.get(request.aai_uid)
        served = [int(s) for s in record["served"]]
        scores = [float(s) for s in record.get("scores") or [0.0] * len(served)]
        impressions.write(
            conn,
            impressions.Impression(
                requested_at=request.timestamp,
                unique_id=request.unique_id,
                visit_id=request.visit_id,
                page_id=request.page_id,
                panel_id=request.panel_id or "v1",
                client_id=request.client_id,
                user_id=user_id,
                aai_uid=request.aai_uid,
                engine_requested=request.engine_version,
                engine=str(record.get("engine") or "imported"),
                model_version=None,
                catalog_version=catalog_version,
                search_data=request.search_data.model_dump(exclude_defaults=True),
                candidates=list(request.candidates) or None,
                candidate_count=len(request.candidates) or len(served),
                service_ids=served,
                scores=scores,
            ),
        )
        count += 1
    return count


def import_actions(
    conn: Connection,
    records: Iterable[Mapping[str, Any]],
    users_by_aai_uid: Mapping[str, int] | None = None,
) -> int:
    """Store user actions as if posted to `POST /user_actions`, in the given order."""
    count = 0
    for record in records:
        actions.record(conn, UserActionIn.model_validate(record), users_by_aai_uid)
        count += 1
    return count
