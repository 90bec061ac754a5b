"""`GET /health`: whether this process can serve, part by part."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from recommender.api.deps import RuntimeDep
from recommender.runtime import Runtime

router = APIRouter(tags=["health"])


def _database(runtime: Runtime) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with runtime.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as error:
        return {"status": "down", "error": type(error).__name__}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def components(runtime: Runtime) -> dict[str, dict[str, Any]]:
    """Each part's status (`ok` when ready) and what it knows; the dashboard shows it too."""
    state = runtime.serving.current
    catalog = state.catalog
    users = catalog.users
    parts: dict[str, dict[str, Any]] = {"database": _database(runtime)}
    if catalog.loaded:
        parts["catalog"] = {
            "status": "ok",
            "dump_id": catalog.dump_id,
            "services": catalog.n_services,
            "recommendable": int(catalog.recommendable.sum()),
            "users": users.count if users is not None else 0,
        }
    else:
        parts["catalog"] = {
            "status": "empty",
            "message": "no catalogue loaded yet: POST /database_dumps or run `recommender demo`",
        }
    models = state.models
    parts["engines"] = {
        "status": "ok" if "popularity" in models else "down",
        "default": state.default_engine,
        "loaded": {name: {"version": loaded.version} for name, loaded in sorted(models.items())},
    }
    if runtime.serving.last_error:
        parts["engines"]["refresh_error"] = runtime.serving.last_error
    parts["worker"] = runtime.executor.health()
    databus = runtime.databus_health()
    if databus is not None:
        parts["databus"] = databus
    return parts


@router.get(
    "/health", summary="Health of the database, catalogue, engines, worker and databus subscriber"
)
def get_health(runtime: RuntimeDep) -> JSONResponse:
    """200 when every part is ready, 503 otherwise; the body says which part is not."""
    parts = components(runtime)
    healthy = all(part["status"] == "ok" for part in parts.values())
    return JSONResponse(
        status_code=200 if healthy else 503,
        content={"status": "ok" if healthy else "unavailable", "components": parts},
    )
