"""The OpenAPI document, made to say what the service really answers.

FastAPI documents validation errors as 422; this service answers 400 (as the original did).
Every operation also lists the error statuses any request may meet: 401/403 (tokens), 413
(body cap), 429 (rate limit) and 503 (database or broker unavailable).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from recommender.contract.ids import MAX_ID
from recommender.engines import name_pattern

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
DESCRIPTIONS = {
    "400": "Malformed request; `errors` names each offending field.",
    "401": "Missing or invalid bearer token.",
    "403": "The token's role may not do this.",
    "413": "The body is larger than the configured limit.",
    "429": "Too many requests from this client; see `Retry-After`.",
    "503": "A part the request needs (database, job broker) is unavailable; retry later.",
}
PUBLIC = {"/recommendations", "/user_actions"}
OPEN = {"/health"}
# FastAPI's document model keeps numeric bounds as floats, and 2**63 - 1 does not survive
# that: 9.223372036854776e18 is 2**63. Integer bounds the models declare, by their float.
EXACT_BOUNDS = {float(MAX_ID): MAX_ID}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def _exact_integers(node: Any) -> None:
    """Put back the integer bounds of integer schemas, anywhere in the document."""
    if isinstance(node, list):
        for item in node:
            _exact_integers(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "integer":
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            bound = node.get(key)
            if isinstance(bound, float) and bound.is_integer():
                node[key] = EXACT_BOUNDS.get(bound, int(bound))
    for value in node.values():
        _exact_integers(value)


def _engine_version(components: dict[str, Any]) -> None:
    # The portal names engines in any case (`NCF`, `pre_agent`); the contract package cannot
    # know which names exist, so the pattern is added here, where engines are known.
    request = components.get("RecommendationRequest", {}).get("properties", {})
    for option in request.get("engine_version", {}).get("anyOf", []):
        if option.get("type") == "string":
            option["pattern"] = name_pattern(or_empty=True)


def document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        license_info=app.license_info,
    )
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            wanted = ["503"]
            if path not in OPEN:
                wanted += ["401", "403"]
            if operation.get("requestBody") or operation.get("parameters"):
                wanted.append("400")
            if method in ("post", "put"):
                wanted.append("413")
            if path in PUBLIC:
                wanted.append("429")
            for status in wanted:
                responses.setdefault(status, _error(DESCRIPTIONS[status]))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    _engine_version(components)
    _exact_integers(schema)
    return schema


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
