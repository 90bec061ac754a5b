"""`POST /recommendations`: which services to show on a panel."""

from __future__ import annotations

from fastapi import APIRouter

from recommender.api.deps import RuntimeDep
from recommender.api.errors import VALIDATION_RESPONSES
from recommender.api.schemas.recommendations import RecommendationRequest, RecommendationResponse
from recommender.serving.recommend import recommend

router = APIRouter(tags=["recommendations"])


@router.post(
    "/recommendations",
    response_model=RecommendationResponse,
    responses=VALIDATION_RESPONSES,
    summary="Recommend services for a panel",
)
def post_recommendations(
    body: RecommendationRequest, runtime: RuntimeDep
) -> RecommendationResponse:
    """Ranks the services allowed by `candidates` and `search_data` for this visitor and
    stores the answer as an impression whose id comes back as `recommendation_id`."""
    state = runtime.serving.current
    with runtime.db.engine.begin() as conn:
        return recommend(conn, state, body, fallback=runtime.settings.fallback_order)
