"""`/dashboard`: the operator's pages (HTML) and the forms they post.

Pages need an admin session (see `api.dashboard.auth`); forms answer with a redirect to the
page they came from (post, redirect, get), with a one-line notice of what they did.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from recommender.api.dashboard import auth, formats, pages
from recommender.api.deps import ConnectionDep, RuntimeDep, SessionDep
from recommender.api.schemas.models import EngineName
from recommender.api.security import Role, Tokens
from recommender.engines import UnknownEngineError, canonical_name
from recommender.experiments import lifecycle
from recommender.experiments import records as experiment_records
from recommender.registry import versions
from recommender.store import state

router = APIRouter(prefix="/dashboard", include_in_schema=False)

templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("recommender.api", "templates"),
        autoescape=select_autoescape(default=True),
    )
)
templates.env.filters.update(formats.FILTERS)
NOTICE = "recommender_notice"
LOGIN = "/dashboard/login"
PAGES = (
    ("overview", "/dashboard"),
    ("engines", "/dashboard/engines"),
    ("experiments", "/dashboard/experiments"),
    ("jobs", "/dashboard/jobs"),
    ("recommendations", "/dashboard/recommendations"),
)


def _tokens(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


async def require_session(request: Request) -> None:
    if not auth.is_admin_session(_tokens(request), request.cookies.get(auth.COOKIE), time.time()):
        raise HTTPException(status_code=303, detail="log in first", headers={"Location": LOGIN})


async def form(request: Request) -> dict[str, str]:
    """The posted form's fields, after the checks every dashboard form needs: same origin,
    a valid session, and the form token of that session."""
    if not auth.same_origin(request.headers.get("origin"), str(request.base_url)):
        raise HTTPException(status_code=403, detail="a form of another site")
    await require_session(request)
    fields = await _fields(request)
    if not auth.is_form_token(fields.get("form_token", ""), request.cookies.get(auth.COOKIE)):
        raise HTTPException(status_code=403, detail="the form has expired: reload the page")
    return fields


async def _fields(request: Request) -> dict[str, str]:
    body = (await request.body()).decode(errors="replace")
    return {name: values[0] for name, values in parse_qs(body).items()}


LoggedIn = Depends(require_session)
ExperimentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
FormFields = Annotated[dict[str, str], Depends(form)]


def render(request: Request, template: str, page: str, **context: Any) -> HTMLResponse:
    notice = request.cookies.get(NOTICE)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "page": page,
            "pages": PAGES,
            "notice": notice,
            "login_needed": _tokens(request).enabled,
            "form_token": auth.form_token(request.cookies.get(auth.COOKIE)),
            **context,
        },
    )
    if notice:
        response.delete_cookie(NOTICE, path="/dashboard")
    return response


def back_to(url: str, notice: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        NOTICE, notice, max_age=60, path="/dashboard", httponly=True, samesite="strict"
    )
    return response


# --- logging in and out ---------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return render(request, "dashboard/login.html", "login", error=None)


@router.post("/login")
async def log_in(request: Request) -> Response:
    if not auth.same_origin(request.headers.get("origin"), str(request.base_url)):
        raise HTTPException(status_code=403, detail="a form of another site")
    token = (await _fields(request)).get("token", "")
    tokens = _tokens(request)
    role = auth.admin_role(tokens, token) if tokens.enabled else Role.ADMIN
    if role is not Role.ADMIN:
        error = "That token may not open the dashboard: it needs an admin token."
        if role is None:
            error = "That token is not one of this service's tokens."
        response = render(request, "dashboard/login.html", "login", error=error)
        response.status_code = 403 if role is not None else 401
        return response
    redirect = RedirectResponse("/dashboard", status_code=303)
    if tokens.enabled:
        redirect.set_cookie(
            auth.COOKIE,
            auth.session_cookie(token, time.time()),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/dashboard",
        )
    return redirect


@router.post("/logout")
def log_out(fields: FormFields) -> Response:
    response = RedirectResponse(LOGIN, status_code=303)
    response.delete_cookie(auth.COOKIE, path="/dashboard")
    return response


# --- pages ------------------------------------------------------------------------------------


@router.get("", dependencies=[LoggedIn])
def overview_page(request: Request, runtime: RuntimeDep, conn: ConnectionDep) -> HTMLResponse:
    today = datetime.now(UTC).date()
    return render(
        request, "dashboard/overview.html", "overview", **pages.overview(runtime, conn, today)
    )


@router.get("/engines", dependencies=[LoggedIn])
def engines_page(request: Request, runtime: RuntimeDep, session: SessionDep) -> HTMLResponse:
    return render(request, "dashboard/engines.html", "engines", **pages.engines(runtime, session))


@router.get("/models/{engine}/{version}", dependencies=[LoggedIn])
def version_page(
    request: Request,
    session: SessionDep,
    engine: EngineName,
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> HTMLResponse:
    try:
        context = pages.version_detail(session, engine, version)
    except versions.VersionNotFoundError as error:
        raise HTTPException(status_code=404, detail=str(error)) from None
    return render(request, "dashboard/version.html", "engines", **context)


@router.get("/experiments", dependencies=[LoggedIn])
def experiments_page(request: Request, conn: ConnectionDep) -> HTMLResponse:
    return render(request, "dashboard/experiments.html", "experiments", **pages.experiments(conn))


@router.get("/experiments/{experiment_id}", dependencies=[LoggedIn])
def experiment_page(
    request: Request, runtime: RuntimeDep, experiment_id: ExperimentId
) -> HTMLResponse:
    # An unknown id raises ExperimentNotFoundError: the app answers 404.
    context = pages.experiment(runtime, experiment_id)
    return render(request, "dashboard/experiment.html", "experiments", **context)


@router.get("/jobs", dependencies=[LoggedIn])
def jobs_page(request: Request, conn: ConnectionDep) -> HTMLResponse:
    return render(request, "dashboard/jobs.html", "jobs", **pages.jobs(conn))


@router.get("/recommendations", dependencies=[LoggedIn])
def recommendations_page(
    request: Request, runtime: RuntimeDep, conn: ConnectionDep
) -> HTMLResponse:
    catalog = runtime.serving.current.catalog
    return render(
        request,
        "dashboard/recommendations.html",
        "recommendations",
        **pages.recommendations(conn, catalog),
    )


# --- what the forms do ------------------------------------------------------------------------


@router.post("/models/{engine}/{version}/activate")
def activate_version(
    runtime: RuntimeDep,
    fields: FormFields,
    engine: EngineName,
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> Response:
    with runtime.db.write() as conn, Session(bind=conn) as session:
        try:
            versions.activate(session, engine, version)
        except versions.VersionNotFoundError as error:
            raise HTTPException(status_code=404, detail=str(error)) from None
        except versions.NotActivatableError as error:
            return back_to("/dashboard/engines", f"Not activated: {error}.")
    runtime.serving.refresh()
    return back_to(f"/dashboard/engines#{engine}", f"{engine} v{version} now serves.")


@router.post("/experiments/{experiment_id}/stop")
def stop_experiment(
    runtime: RuntimeDep, fields: FormFields, experiment_id: ExperimentId
) -> Response:
    here = f"/dashboard/experiments/{experiment_id}"
    try:
        stopped = lifecycle.stop(runtime.db, experiment_id)
    except experiment_records.NotRunningError as error:
        return back_to(here, f"Not stopped: {error}.")
    runtime.serving.refresh()
    return back_to(here, f"{stopped.name} stopped: every visitor gets the default engine again.")


@router.post("/experiments/{experiment_id}/promote/{arm}")
def promote_arm(
    runtime: RuntimeDep,
    fields: FormFields,
    experiment_id: ExperimentId,
    arm: Annotated[str, Path(min_length=1, max_length=64)],
) -> Response:
    here = f"/dashboard/experiments/{experiment_id}"
    try:
        promoted = lifecycle.promote(runtime.db, experiment_id, arm)
    except (experiment_records.NotRunningError, experiment_records.InvalidExperimentError) as error:
        return back_to(here, f"Not promoted: {error}.")
    runtime.serving.refresh()
    return back_to(here, f"{arm} promoted: {promoted.name} ended, its engine is the default.")


@router.post("/engines/default")
def set_default_engine(runtime: RuntimeDep, fields: FormFields) -> Response:
    chosen = fields.get("engine", "")
    try:
        name = chosen if chosen == "auto" else canonical_name(chosen)
    except UnknownEngineError as error:
        return back_to("/dashboard/engines", f"Not changed: {error}.")
    with runtime.db.write() as conn:
        state.put(conn, state.DEFAULT_ENGINE, name)
    runtime.serving.refresh()
    return back_to("/dashboard/engines", f"The default engine is now {name}.")


@router.post("/training")
async def start_training(runtime: RuntimeDep, fields: FormFields) -> Response:
    chosen = fields.get("engine", "")
    try:
        engine = canonical_name(chosen) if chosen else None
    except UnknownEngineError as error:
        return back_to("/dashboard/jobs", f"Not started: {error}.")
    task_id = await run_in_threadpool(runtime.executor.submit, "train", engine=engine)
    return back_to("/dashboard/jobs", f"Training {engine or 'every engine'}: job {task_id[:8]}.")
