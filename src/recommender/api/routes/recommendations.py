"""`POST /recommendations`: which services to show on a panel."""

from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter, Response

from recommender.api.deps import ClientRuntime
from recommender.api.errors import VALIDATION_RESPONSES
from recommender.contract.recommendations import RecommendationRequest, RecommendationResponse
from recommender.observability.metrics import EXPERIMENT_IMPRESSIONS, RECOMMENDATIONS
from recommender.runtime import Runtime
from recommender.serving.recommend import Visitor, decide

router = APIRouter(tags=["recommendations"])
JSON = "application/json"


@router.post(
    "/recommendations",
    response_model=RecommendationResponse,
    responses=VALIDATION_RESPONSES,
    summary="Recommend services for a panel",
)
async def post_recommendations(body: RecommendationRequest, runtime: ClientRuntime) -> Response:
    """Ranks the services allowed by `candidates` and `search_data` for this visitor and
    stores the answer as an impression whose id comes back as `recommendation_id`."""
    return await recommend(body, runtime)


async def recommend(body: RecommendationRequest, runtime: Runtime) -> Response:
    """The route's work, also served by `api.hot` without the framework's layers."""
    # Ranking is about a millisecond of CPU: it runs on the event loop, which is cheaper
    # than a hop to a worker thread; only the commit of the impression is waited for.
    state = runtime.serving.current
    # A profile the process does not hold is read off the loop; a held one costs no hop.
    visitor = (
        await asyncio.to_thread(Visitor.of, state, body)
        if Visitor.reads_store(state, body)
        else Visitor.of(state, body)
    )
    recent = await runtime.sessions.recent_async(
        body.unique_id, visitor.user_id, body.timestamp.timestamp()
    )
    q = body.search_data.q
    # Listed candidates are the portal's own search result: its text query chose them.
    search_hits = await runtime.search_async(q) if q and not body.candidates else None
    decision = decide(
        state,
        body,
        visitor=visitor,
        recent=recent,
        search_hits=search_hits,
        fallback=runtime.settings.fallback_order,
        exclude_opened=runtime.settings.session_exclude_opened,
    )
    recommendation_id = await runtime.store_impression_async(decision.impression)
    shown = decision.impression
    RECOMMENDATIONS.labels(shown.engine, shown.panel_id).inc()
    if shown.experiment_id is not None:
        EXPERIMENT_IMPRESSIONS.labels(str(shown.experiment_id), shown.arm).inc()
    # Serialised here: FastAPI would validate the answer against its model and encode it
    # twice, which costs as much as the ranking.
    return Response(orjson.dumps(decision.answer(recommendation_id)), media_type=JSON)
