"""`GET /engines` and `PUT /engines/default`: which engines exist and which one is the default."""

from __future__ import annotations

from fastapi import APIRouter

from recommender.api.deps import AdminAccess, ClientAccess, RuntimeDep
from recommender.api.errors import VALIDATION_RESPONSES
from recommender.api.schemas.models import DefaultEngineIn, EngineList, EngineOut
from recommender.engines import ALIASES, engine_class, engine_names
from recommender.store import state

router = APIRouter(tags=["models"])


def _listing(runtime: RuntimeDep) -> EngineList:
    current = runtime.serving.current
    models = current.models
    return EngineList(
        default=current.default_engine,
        engines=[
            EngineOut(
                name=name,
                trainable=engine_class(name).trainable,
                aliases=[alias for alias, target in ALIASES.items() if target == name],
                active_version=models[name].version if name in models else None,
                default=name == current.default_engine,
            )
            for name in engine_names()
        ],
    )


@router.get(
    "/engines",
    response_model=EngineList,
    summary="Engines and the default",
    dependencies=[ClientAccess],
)
def list_engines(runtime: RuntimeDep) -> EngineList:
    return _listing(runtime)


@router.put(
    "/engines/default",
    response_model=EngineList,
    responses=VALIDATION_RESPONSES,
    summary="Change the default engine at run time",
    dependencies=[AdminAccess],
)
def set_default(body: DefaultEngineIn, runtime: RuntimeDep) -> EngineList:
    """Every serving process follows within `REFRESH_INTERVAL_S` seconds; this one at once."""
    with runtime.db.write() as conn:
        state.put(conn, state.DEFAULT_ENGINE, body.engine)
    runtime.serving.refresh()
    return _listing(runtime)
