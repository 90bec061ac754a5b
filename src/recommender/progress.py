"""How long work reports how far it got: one callback type, and ways to nest it."""

from __future__ import annotations

from collections.abc import Callable

# Called with the share done, in [0, 1], and a short message; must be cheap.
Progress = Callable[[float, str], None]


def quiet(fraction: float, message: str) -> None:
    """A progress callback that reports nowhere."""


def within(progress: Progress, start: float, end: float, prefix: str = "") -> Progress:
    """A callback for one part of a larger piece of work: its [0, 1] maps onto [start, end]
    of `progress`, and its messages get `prefix`."""

    def report(fraction: float, message: str) -> None:
        text = f"{prefix}: {message}" if prefix and message else prefix or message
        progress(start + (end - start) * min(max(fraction, 0.0), 1.0), text)

    return report


def counted(progress: Progress, done: int, total: int, message: str) -> None:
    """Report `done` of `total` items (a total of 0 counts as finished)."""
    progress(done / total if total > 0 else 1.0, message)
