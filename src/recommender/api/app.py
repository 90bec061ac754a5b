"""The FastAPI application: routers, error handlers, limits, documentation at `/`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from recommender import __version__
from recommender.api import errors
from recommender.api.limits import BodySizeLimit
from recommender.api.routes import (
    dumps,
    engines,
    health,
    models,
    recommendations,
    tasks,
    training,
    user_actions,
)
from recommender.config import Settings, get_settings
from recommender.runtime import Runtime

DESCRIPTION = """Recommendations of scientific services for the EOSC Marketplace and similar
portals. Compatible with the original EOSC recommender's HTTP contract; additions are the
`recommendation_id` of every answer and the job and model endpoints."""


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the application; the runtime (database, models) starts with the server."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = runtime or Runtime(settings)
        await run_in_threadpool(own.start)
        app.state.runtime = own
        try:
            yield
        finally:
            await run_in_threadpool(own.close)

    app = FastAPI(
        title="marketplace-recommender",
        version=__version__,
        description=DESCRIPTION,
        license_info={"name": "GPL-3.0-or-later", "identifier": "GPL-3.0-or-later"},
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    errors.install(app)
    app.add_middleware(
        BodySizeLimit,
        default=settings.max_body_bytes,
        per_path={"/database_dumps": settings.max_dump_bytes, "/update": settings.max_dump_bytes},
    )
    for module in (
        recommendations,
        user_actions,
        dumps,
        training,
        tasks,
        models,
        engines,
        health,
    ):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="marketplace-recommender")

    @app.get("/swagger.json", include_in_schema=False)
    def swagger_json() -> JSONResponse:
        return JSONResponse(app.openapi())

    return app
