"""Typed dependencies the route handlers declare: the runtime and its parts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from recommender.api.security import Role, Tokens, authorize
from recommender.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    # async so FastAPI does not hop to a worker thread just to read an attribute
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def read_session(runtime: RuntimeDep) -> Iterator[Session]:
    """An ORM session for reading; handlers that write use `runtime.db.write()` instead, so
    the commit happens before they answer (and on SQLite takes the write lock at BEGIN)."""
    with runtime.db.sessions() as session:
        yield session


def read_connection(runtime: RuntimeDep) -> Iterator[Connection]:
    """A Core connection for reading."""
    with runtime.db.engine.connect() as conn:
        yield conn


SessionDep = Annotated[Session, Depends(read_session)]
ConnectionDep = Annotated[Connection, Depends(read_connection)]
# Declared so the OpenAPI document shows it; read by the access checks below.
AuthorizationHeader = Annotated[str | None, Header(description="Bearer <token>")]


def _tokens(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


async def require_client(request: Request, authorization: AuthorizationHeader = None) -> None:
    """Recommendations and user actions: a client or admin token (when tokens are set)."""
    authorize(_tokens(request), authorization, Role.CLIENT)


async def require_admin(request: Request, authorization: AuthorizationHeader = None) -> None:
    """Everything that changes what serves, or shows internals: an admin token."""
    authorize(_tokens(request), authorization, Role.ADMIN)


async def client_runtime(request: Request, authorization: AuthorizationHeader = None) -> Runtime:
    """The runtime, for a caller with a client or admin token: what `require_client` and
    `RuntimeDep` give, in one dependency, since each one costs the busiest routes a
    resolution per request."""
    authorize(_tokens(request), authorization, Role.CLIENT)
    runtime: Runtime = request.app.state.runtime
    return runtime


ClientAccess = Depends(require_client)
ClientRuntime = Annotated[Runtime, Depends(client_runtime)]
AdminAccess = Depends(require_admin)
