"""Identifier types shared by every payload: non-negative integers that fit a BIGINT column."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_ID = 2**63 - 1

# Strict: a JSON string "12" is not an id, as in the original API's JSON schema.
Id = Annotated[int, Field(strict=True, ge=0, le=MAX_ID)]
