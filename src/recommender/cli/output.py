"""How commands talk to the terminal: one console and a progress bar for long work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

console = Console()
# Error lines are read by people and by log collectors: never wrapped at the terminal's width.
errors = Console(stderr=True, soft_wrap=True)


def report_error(message: object) -> None:
    """One error on stderr, in red, printed as it is (brackets in it are not markup)."""
    errors.print(f"[red]{escape(str(message))}[/red]")


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[..., None]]:
    """Yields `update(done, total, message=None)` that drives a bar on stderr; a message
    (the epoch and its validation scores, say) replaces the bar's text."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int, message: str | None = None) -> None:
            # A total of 0 or less means "not known": the bar then only counts.
            progress.update(task, completed=done, total=total if total > 0 else None)
            if message:
                progress.update(task, description=f"{description}: {escape(message)}")

        yield update
