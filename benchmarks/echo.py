"""A bare FastAPI app that parses the same bodies as the service and answers at once.

It is what the web framework alone costs on this machine: `benchmarks/serving.py --echo`
drives it with the same client and load, so the service is measured against it in one run.

    python -m uvicorn --factory benchmarks.echo:create_app --port 8001
"""

from __future__ import annotations

from fastapi import FastAPI, Response

from recommender.contract.recommendations import RecommendationRequest, RecommendationResponse
from recommender.contract.user_actions import UserActionIn

ANSWER = RecommendationResponse(
    panel_id="v1",
    recommendations=[1, 2, 3],
    scores=[0.3, 0.2, 0.1],
    explanations=["a", "b", "c"],
    explanations_short=["a", "b", "c"],
    engine_version="popularity",
    recommendation_id=1,
)


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/recommendations")
    async def recommendations(body: RecommendationRequest) -> RecommendationResponse:
        return ANSWER.model_copy(update={"panel_id": body.panel_id or "v1"})

    @app.post("/user_actions", status_code=204, response_class=Response)
    async def user_actions(body: UserActionIn) -> Response:
        return Response(status_code=204)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
