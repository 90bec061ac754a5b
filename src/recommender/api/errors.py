"""How failures become HTTP answers: 400 naming the field, never a bare 500 for bad input."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from recommender.catalog.dump import InvalidDumpError
from recommender.contract.errors import VALIDATION_MESSAGE, field_errors
from recommender.engines import UnknownEngineError
from recommender.experiments.records import (
    ExperimentNotFoundError,
    InvalidExperimentError,
    NotRunningError,
)
from recommender.tasks.executor import BrokerUnavailableError

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """The body of every 4xx/5xx answer."""

    message: str
    errors: dict[str, str] = {}
    problems: list[dict[str, Any]] = []


def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        status_code=400,
        content=ErrorBody(
            message=VALIDATION_MESSAGE, errors=field_errors(exc.errors())
        ).model_dump(),
    )


def _invalid_dump(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidDumpError)
    return JSONResponse(
        status_code=400,
        content=ErrorBody(
            message=str(exc),
            errors={
                f"{p.entity}[{p.record_id if p.record_id is not None else p.index}]"
                + (f".{p.field}" if p.field else ""): p.message
                for p in exc.problems
            },
            problems=[p.as_dict() for p in exc.problems],
        ).model_dump(),
    )


def _unknown_engine(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        status_code=400,
        content=ErrorBody(
            message=VALIDATION_MESSAGE, errors={"engine_version": str(exc)}
        ).model_dump(),
    )


def _invalid_experiment(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidExperimentError)
    return JSONResponse(
        status_code=400,
        content=ErrorBody(message=VALIDATION_MESSAGE, errors={exc.field: exc.message}).model_dump(),
    )


def _no_experiment(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=404, content=ErrorBody(message=str(exc)).model_dump())


def _experiment_ended(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=409, content=ErrorBody(message=str(exc)).model_dump())


def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        status_code=503,
        content=ErrorBody(message=str(exc)).model_dump(),
        headers={"Retry-After": "5"},
    )


def _database(_request: Request, exc: Exception) -> JSONResponse:
    # Nothing was acknowledged: the caller may retry once the database is back.
    log.warning("database unavailable: %s", exc)
    return JSONResponse(
        status_code=503,
        content=ErrorBody(message="the database is unavailable; retry shortly").model_dump(),
        headers={"Retry-After": "2"},
    )


def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        status_code=exc.status_code,
        content=ErrorBody(message=str(exc.detail)).model_dump(),
        headers=dict(exc.headers or {}),
    )


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(status_code=500, content=ErrorBody(message="internal error").model_dump())


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(InvalidDumpError, _invalid_dump)
    app.add_exception_handler(UnknownEngineError, _unknown_engine)
    app.add_exception_handler(InvalidExperimentError, _invalid_experiment)
    app.add_exception_handler(ExperimentNotFoundError, _no_experiment)
    app.add_exception_handler(NotRunningError, _experiment_ended)
    app.add_exception_handler(BrokerUnavailableError, _unavailable)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(OperationalError, _database)
    app.add_exception_handler(PoolTimeoutError, _database)
    app.add_exception_handler(Exception, _unexpected)


# Documented on every route that validates a body.
VALIDATION_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is malformed; `errors` names each field."},
    413: {"model": ErrorBody, "description": "The body is larger than the configured limit."},
}
