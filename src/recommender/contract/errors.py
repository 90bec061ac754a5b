"""How a body that fails validation is described: each offending field's path and message."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

VALIDATION_MESSAGE = "Input payload validation failed"


def field_path(loc: Sequence[Any]) -> str:
    """`source.page_id` for pydantic's ("body", "source", "page_id"); the body itself: `body`."""
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def field_errors(errors: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The first message for each offending field, as the original's `errors` map had them."""
    described: dict[str, str] = {}
    for error in errors:
        if error.get("type") == "json_invalid":
            # Its location is a character offset, not a field.
            described.setdefault("body", "body is not valid JSON")
            continue
        message = str(error.get("msg", "invalid value"))
        described.setdefault(field_path(error.get("loc", ())), message)
    return described
