"""How commands talk to the terminal: one console and a progress bar for long work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import rich.progress
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

from recommender.progress import Progress

console = Console()
# Error lines are read by people and by log collectors: never wrapped at the terminal's width.
errors = Console(stderr=True, soft_wrap=True)


def report_error(message: object) -> None:
    """One error on stderr, in red, printed as it is (brackets in it are not markup)."""
    errors.print(f"[red]{escape(str(message))}[/red]")


@contextmanager
def progress_bar(description: str) -> Iterator[Progress]:
    """Yields a progress callback that drives a bar on stderr; a message (the epoch and its
    validation scores, say) replaces the bar's text."""
    with rich.progress.Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=1.0)

        def update(fraction: float, message: str) -> None:
            progress.update(task, completed=fraction)
            if message:
                progress.update(task, description=f"{description}: {escape(message)}")

        yield update


@contextmanager
def counter(description: str) -> Iterator[Callable[[int], None]]:
    """Yields `update(count)` for work whose total is not known in advance."""
    with rich.progress.Progress(
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,.0f}"),
        TimeElapsedColumn(),
        console=errors,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=None)
        yield lambda count: progress.update(task, completed=count)
