"""`POST /user_actions`: what visitors did, stored for attribution, journeys and training."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from recommender.activity import actions
from recommender.api.deps import RuntimeDep
from recommender.api.errors import VALIDATION_RESPONSES
from recommender.api.schemas.user_actions import UserActionIn

router = APIRouter(tags=["user actions"])


@router.post(
    "/user_actions",
    status_code=204,
    response_class=Response,
    responses=VALIDATION_RESPONSES,
    summary="Record a user action",
)
async def post_user_action(body: UserActionIn, runtime: RuntimeDep) -> Response:
    """Answers 204 only once the action is committed."""
    users = runtime.serving.current.catalog.users
    by_aai_uid = users.by_aai_uid if users is not None else None
    await asyncio.wrap_future(
        runtime.writer.submit(lambda conn: actions.record(conn, body, by_aai_uid))
    )
    return Response(status_code=204)
