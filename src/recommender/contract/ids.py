"""Identifier types shared by every payload: non-negative integers that fit a BIGINT column."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

MAX_ID = 2**63 - 1


def _integral_number(value: Any) -> Any:
    # JSON Schema counts 7.0 as an integer, and so does the OpenAPI document: so must we.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Strict: a JSON string "12" is not an id, as in the original API's JSON schema.
Id = Annotated[int, Field(strict=True, ge=0, le=MAX_ID), BeforeValidator(_integral_number)]
