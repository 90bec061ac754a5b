"""`POST /recommendations`: which services to show on a panel."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from recommender.api.deps import ClientAccess, RuntimeDep
from recommender.api.errors import VALIDATION_RESPONSES
from recommender.contract.recommendations import RecommendationRequest, RecommendationResponse
from recommender.observability.metrics import RECOMMENDATIONS
from recommender.serving.recommend import decide

router = APIRouter(tags=["recommendations"])


@router.post(
    "/recommendations",
    response_model=RecommendationResponse,
    responses=VALIDATION_RESPONSES,
    summary="Recommend services for a panel",
    dependencies=[ClientAccess],
)
async def post_recommendations(
    body: RecommendationRequest, runtime: RuntimeDep
) -> RecommendationResponse:
    """Ranks the services allowed by `candidates` and `search_data` for this visitor and
    stores the answer as an impression whose id comes back as `recommendation_id`."""
    # Ranking is about a millisecond of CPU: it runs on the event loop, which is cheaper
    # than a hop to a worker thread; only the commit of the impression is waited for.
    state = runtime.serving.current
    with runtime.db.engine.connect() as conn:
        decision = decide(conn, state, body, fallback=runtime.settings.fallback_order)
    recommendation_id = await asyncio.wrap_future(runtime.store_impression(decision.impression))
    RECOMMENDATIONS.labels(decision.impression.engine, decision.impression.panel_id).inc()
    return decision.response(recommendation_id)
