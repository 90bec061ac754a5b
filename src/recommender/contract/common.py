"""Field types shared by several request bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from recommender.contract.ids import Id

ClientId = Literal["marketplace", "search_service", "user_dashboard", "undefined"]

# Lengths are capped so a request cannot make us store or search megabytes of text.
ShortText = Annotated[str, Field(strict=True, max_length=255)]
PageId = Annotated[str, Field(strict=True, min_length=1, max_length=2048)]
VisitId = Annotated[str, Field(strict=True, max_length=255)]
UniqueId = Annotated[str, Field(strict=True, min_length=1, max_length=255)]
IdList = Annotated[list[Id], Field(max_length=100_000)]


def _iso_text(value: Any) -> Any:
    # pydantic would read a bare number as seconds since the epoch; the contract says ISO-8601.
    if isinstance(value, int | float):
        raise ValueError("must be an ISO-8601 date-time string")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_iso_text)]

__all__ = [
    "ClientId",
    "Id",
    "IdList",
    "PageId",
    "Payload",
    "ShortText",
    "Timestamp",
    "UniqueId",
    "VisitId",
]


class Payload(BaseModel):
    """A request body: unknown extra fields are accepted and ignored, as the contract says."""

    model_config = ConfigDict(extra="ignore")
