"""The FastAPI application: routers, error handlers, limits, documentation at `/`."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from recommender import __version__
from recommender.api import errors, openapi
from recommender.api.allow import AllowEveryMethod
from recommender.api.hot import HotPaths, HotRoute, ServiceApp
from recommender.api.limits import BodySizeLimit
from recommender.api.ratelimit import RateLimit, TokenBuckets
from recommender.api.routes import (
    dashboard,
    docs,
    dumps,
    engines,
    experiments,
    health,
    models,
    recommendations,
    tasks,
    training,
    user_actions,
)
from recommender.api.security import Tokens
from recommender.config import Settings, get_settings
from recommender.contract.recommendations import RecommendationRequest
from recommender.contract.user_actions import UserActionIn
from recommender.observability.errors import init_sentry
from recommender.observability.metrics import StoreCollector, exposition
from recommender.observability.requests import RequestContext
from recommender.runtime import Runtime

log = logging.getLogger(__name__)

# Rate-limited: what portals call many times a second.
PUBLIC_PATHS = frozenset({"/recommendations", "/user_actions"})

DESCRIPTION = """Recommendations of scientific services for the EOSC Marketplace and similar
portals. Compatible with the original EOSC recommender's HTTP contract; additions are the
`recommendation_id` of every answer and the job and model endpoints."""


# How soon a thread that waits for the interpreter gets it from a busy event loop. The store
# writer's thread lets go of it at each statement it sends and needs it back to go on; at
# Python's default (5 ms), with another thread busy, a batch of 50 impressions took 58 ms on
# PostgreSQL and 18 ms on SQLite, against 10 and 5 ms at 0.5 ms
# (`benchmarks/impression_log.py --switch-interval`), and every request of the batch waited.
SWITCH_INTERVAL_S = 0.0005


def settle_server_process() -> None:
    """What a process that serves one application until it exits sets once it has started:
    its start-up objects out of the collector's reach, and a short switch interval.

    The imported libraries leave about 340,000 long-lived objects (functions, types, tuples);
    a full collection walks them all, and under load one came about once a second and stopped
    the event loop for about 175 ms: that was the p99 of `/recommendations` at 50 requests in
    flight. They live as long as the process, so the collector has nothing to find there.
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def _route(router: APIRouter, path: str) -> APIRoute:
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.path == path)


def server_app() -> FastAPI:
    """The application as `recommender serve` runs it, once in each server process."""
    return create_app(server_process=True)


def create_app(
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    *,
    server_process: bool = False,
) -> FastAPI:
    """Build the application; the runtime (database, models) starts with the server.

    `server_process` is for a process that serves this one application until it exits (see
    `settle_server_process`); a test process that builds many would keep their garbage."""
    settings = settings or get_settings()

    init_sentry(settings, component="api")
    tokens = Tokens.parse(settings.api_tokens.get_secret_value() if settings.api_tokens else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = runtime or Runtime(settings)
        await run_in_threadpool(own.start)
        app.state.runtime = own
        if server_process:
            settle_server_process()
        app.state.metrics = StoreCollector(own.db, own.serving.served_versions)
        if not tokens.enabled:
            log.warning(
                "API_TOKENS is not set: every endpoint is open to anyone who can reach this "
                "address (allowed on loopback only, or with ALLOW_ANONYMOUS=true)"
            )
        try:
            yield
        finally:
            await run_in_threadpool(own.close)

    app = ServiceApp(
        title="marketplace-recommender",
        version=__version__,
        description=DESCRIPTION,
        license_info={"name": "GPL-3.0-or-later", "identifier": "GPL-3.0-or-later"},
        lifespan=lifespan,
        # Served by routes.docs from the package's own assets.
        docs_url=None,
        redoc_url=None,
    )
    app.state.tokens = tokens
    errors.install(app)
    openapi.install(app)
    # A request meets the request context, CORS, the rate limit and the body cap, in that
    # order, before any route; the hot paths meet the same ones (they read the body
    # themselves, and `Allow` only concerns 405s).
    outer: list[tuple[Any, dict[str, Any]]] = [(RequestContext, {})]
    if settings.cors_origin_list:
        outer.append(
            (
                CORSMiddleware,
                {
                    "allow_origins": settings.cors_origin_list,
                    "allow_methods": ["GET", "POST", "PUT"],
                    "allow_headers": ["Authorization", "Content-Type", "X-Request-Id"],
                    "expose_headers": ["X-Task-Id", "X-Request-Id"],
                },
            )
        )
    if settings.rate_limit_per_s > 0:
        buckets = TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
        outer.append((RateLimit, {"buckets": buckets, "paths": PUBLIC_PATHS}))
    stack = [
        outer[0],
        (AllowEveryMethod, {"document": app.openapi}),
        *outer[1:],
        (
            BodySizeLimit,
            {
                "default": settings.max_body_bytes,
                "per_path": {
                    "/database_dumps": settings.max_dump_bytes,
                    "/update": settings.max_dump_bytes,
                },
            },
        ),
    ]
    for middleware, options in reversed(stack):  # added innermost first
        app.add_middleware(middleware, **options)
    for module in (
        recommendations,
        experiments,
        user_actions,
        dumps,
        training,
        tasks,
        models,
        engines,
        health,
    ):
        app.include_router(module.router)

    app.include_router(docs.router)
    app.hot = HotPaths(
        app,
        {
            "/recommendations": HotRoute(
                RecommendationRequest,
                recommendations.recommend,
                _route(recommendations.router, "/recommendations"),
            ),
            "/user_actions": HotRoute(
                UserActionIn, user_actions.record, _route(user_actions.router, "/user_actions")
            ),
        },
        body_limit=settings.max_body_bytes,
        wraps=[partial(middleware, **options) for middleware, options in outer],
    )
    app.include_router(dashboard.router)
    app.mount(docs.STATIC, StaticFiles(packages=[("recommender.api", "static")]), name="static")

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        text, content_type = exposition(getattr(app.state, "metrics", None))
        return Response(content=text, media_type=content_type)

    @app.get("/swagger.json", include_in_schema=False)
    def swagger_json() -> JSONResponse:
        return JSONResponse(app.openapi())

    return app
