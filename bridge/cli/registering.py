"""What `groups register` shows while it reads the lists: a progress bar on stderr, only
when stderr is a terminal (a pipe or a log file gets the final line only)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from bridge.usecases.register import ListSource, RegisterProgress

__all__ = ["registration_progress"]


@contextlib.contextmanager
def registration_progress(
    console: Console, group: str, sources: Sequence[ListSource]
) -> Iterator[Callable[[RegisterProgress], None] | None]:
    """A callback for `register_group(on_progress=...)`, or None off a terminal."""
    if not console.is_terminal:
        yield None
        return
    sizes = [src.size for src in sources]
    total = None if None in sizes else sum(size or 0 for size in sizes)
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[counts]}", markup=False),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"registering {group}", total=total, counts="")

        def show(seen: RegisterProgress) -> None:
            bad = f", {seen.problems:,} bad lines" if seen.problems else ""
            progress.update(
                task,
                completed=seen.bytes_read,
                counts=f"list {seen.list_name}: {seen.lines:,} lines, "
                f"{seen.jobs_stored:,} jobs stored{bad}",
            )

        yield show
