"""`/`, `/docs` and `/redoc`: the API's documentation, drawn by assets the package ships, so
it renders behind a firewall as well as anywhere (no CDN, no web fonts)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

STATIC = "/static"
TITLE = "marketplace-recommender"
FAVICON = f"{STATIC}/vendor/swagger-ui/favicon-32x32.png"


def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=TITLE,
        swagger_js_url=f"{STATIC}/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC}/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url=FAVICON,
        # Swagger UI would otherwise send the document to an online validator for a badge.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/")
def root() -> HTMLResponse:
    return swagger_ui()


@router.get("/docs")
def docs() -> HTMLResponse:
    return swagger_ui()


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title=TITLE,
        redoc_js_url=f"{STATIC}/vendor/redoc/redoc.standalone.js",
        redoc_favicon_url=FAVICON,
        with_google_fonts=False,
    )
