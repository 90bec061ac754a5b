"""Typed dependencies the route handlers declare: the runtime and its parts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from recommender.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    # async so FastAPI does not hop to a worker thread just to read an attribute
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
