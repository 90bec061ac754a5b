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


@router.get(
    "/health", summary="Health of the database, catalogue, engines, worker and databus subscriber"
)
def get_health(runtime: RuntimeDep) -> JSONResponse:
    """200 when every part is ready, 503 otherwise; the body says which part is not."""
    state = runtime.serving.current
    catalog = state.catalog
    users = catalog.users
    components: dict[str, dict[str, Any]] = {"database": _database(runtime)}
    if catalog.loaded:
        components["catalog"] = {
            "status": "ok",
            "dump_id": catalog.dump_id,
            "services": catalog.n_services,
            "recommendable": int(catalog.recommendable.sum()),
            "users": len(users) if users is not None else 0,
        }
    else:
        components["catalog"] = {
            "status": "empty",
            "message": "no catalogue loaded yet: POST /database_dumps or run `recommender demo`",
        }
    models = state.models
    components["engines"] = {
        "status": "ok" if "popularity" in models else "down",
        "default": state.default_engine,
        "loaded": {name: {"version": loaded.version} for name, loaded in sorted(models.items())},
    }
    if runtime.serving.last_error:
        components["engines"]["refresh_error"] = runtime.serving.last_error
    components["worker"] = runtime.executor.health()
    databus = runtime.databus_health()
    if databus is not None:
        components["databus"] = databus
    healthy = all(part["status"] == "ok" for part in components.values())
    return JSONResponse(
        status_code=200 if healthy else 503,
        content={"status": "ok" if healthy else "unavailable", "components": components},
    )
