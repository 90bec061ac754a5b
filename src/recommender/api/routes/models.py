"""The model registry over HTTP: versions, their metrics, activation (and so rollback)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy.orm import Session

from recommender.api.deps import AdminAccess, RuntimeDep, SessionDep
from recommender.api.errors import ErrorBody
from recommender.api.schemas.models import EngineName, VersionList, VersionOut
from recommender.registry import versions

router = APIRouter(tags=["models"])

EngineParameter = Annotated[EngineName, Path(examples=["ncf"])]


@router.get(
    "/models",
    response_model=VersionList,
    summary="Every registered model version",
    dependencies=[AdminAccess],
)
def list_versions(session: SessionDep) -> VersionList:
    rows = versions.listing(session)
    return VersionList(count=len(rows), versions=[VersionOut.of(r) for r in rows])


@router.get(
    "/models/{engine}",
    response_model=VersionList,
    responses={400: {"model": ErrorBody}},
    summary="The versions of one engine, newest first",
    dependencies=[AdminAccess],
)
def engine_versions(session: SessionDep, engine: EngineParameter) -> VersionList:
    rows = versions.listing(session, engine)
    return VersionList(count=len(rows), versions=[VersionOut.of(r) for r in rows])


@router.post(
    "/models/{engine}/{version}/activate",
    response_model=VersionOut,
    responses={400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
    summary="Serve this version (also how to roll back)",
    dependencies=[AdminAccess],
)
def activate(
    runtime: RuntimeDep,
    engine: EngineParameter,
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> VersionOut:
    """Serving processes pick the version up within `REFRESH_INTERVAL_S` seconds."""
    with runtime.db.write() as conn, Session(bind=conn) as session:
        try:
            row = versions.activate(session, engine, version)
        except versions.VersionNotFoundError as error:
            raise HTTPException(status_code=404, detail=str(error)) from None
        except versions.NotActivatableError as error:
            raise HTTPException(status_code=409, detail=str(error)) from None
        out = VersionOut.of(row)
        session.flush()
    runtime.serving.refresh()
    return out
