"""Progress reporting for long work: one callback signature for the CLI's bars, Serve's job records and the SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

ProgressFn = Callable[[str, float, float | None], None]
"""``progress(stage, done, total)``: ``done`` units of ``total`` (None when unknown) in ``stage``."""


def no_progress(stage: str, done: float, total: float | None) -> None:
    """A progress callback that reports nothing."""


@contextmanager
def progress_bars(console: Console | None = None) -> Iterator[ProgressFn]:
    """Rich progress bars on stderr, one per stage, as a :data:`ProgressFn`; disabled when not a terminal."""
    console = console or Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as bars:
        tasks: dict[str, int] = {}

        def update(stage: str, done: float, total: float | None) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield update
