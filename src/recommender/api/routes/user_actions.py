"""`POST /user_actions`: what visitors did, stored for attribution, journeys and training."""

from __future__ import annotations

from fastapi import APIRouter, Response

from recommender.activity import actions
from recommender.api.deps import ClientRuntime
from recommender.api.errors import VALIDATION_RESPONSES
from recommender.contract.user_actions import UserActionIn
from recommender.observability.metrics import (
    ATTRIBUTED_CLICKS,
    ATTRIBUTED_ORDERS,
    EXPERIMENT_CLICKS,
    EXPERIMENT_ORDERS,
    USER_ACTIONS,
)
from recommender.runtime import Runtime

router = APIRouter(tags=["user actions"])


@router.post(
    "/user_actions",
    status_code=204,
    response_class=Response,
    responses=VALIDATION_RESPONSES,
    summary="Record a user action",
)
async def post_user_action(body: UserActionIn, runtime: ClientRuntime) -> Response:
    """Answers 204 only once the action is committed."""
    return await record(body, runtime)


async def record(body: UserActionIn, runtime: Runtime) -> Response:
    """The route's work, also served by `api.hot` without the framework's layers."""
    users = runtime.serving.current.catalog.users
    # Without every identity in memory, the writer asks the store (by the indexed column).
    by_aai_uid = users.aai_map() if users is not None else None
    stored = await runtime.writer.submit_item_async(actions.record_many, (body, by_aai_uid))
    if stored.service_action is not None:
        # The visitor's next panel already knows (no wait for the next refresh).
        await runtime.sessions.add_async([stored.service_action])
    count_action(stored)
    return Response(status_code=204)


def count_action(stored: actions.Recorded) -> None:
    kind = "order" if stored.order else "panel_click" if stored.panel_click else "other"
    USER_ACTIONS.labels(kind).inc()
    if stored.engine is not None:
        if stored.panel_click:
            ATTRIBUTED_CLICKS.labels(stored.engine).inc()
        if stored.order:
            ATTRIBUTED_ORDERS.labels(stored.engine).inc()
    if stored.experiment_id is not None:
        labels = (str(stored.experiment_id), stored.arm)
        if stored.panel_click:
            EXPERIMENT_CLICKS.labels(*labels).inc()
        if stored.order:
            EXPERIMENT_ORDERS.labels(*labels).inc()
