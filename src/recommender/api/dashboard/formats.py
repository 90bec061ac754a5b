"""How the dashboard writes numbers and times: the templates' filters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def number(value: Any) -> str:
    """Counts with thousands separators, measurements to four significant digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (
        isinstance(value, float) and value.is_integer() and abs(value) >= 1
    ):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f} %"


def when(value: datetime | None) -> str:
    """A moment in UTC, to the second."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


FILTERS: dict[str, Callable[..., str]] = {
    "number": number,
    "percent": percent,
    "when": when,
    "day": day,
}
