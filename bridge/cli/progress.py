"""Watching a run: a live progress bar read from the ledger, then a one-line summary."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from bridge.domain.runs import Run, RunState
from bridge.exceptions import RunNotFound
from bridge.ports import Ledger

__all__ = ["summary_line", "watch_run"]


def watch_run(ledger: Ledger, run_id: str, console: Console, *, interval: float = 0.2) -> Run:
    """Show progress until the run has finished; the finished run."""
    run = _get(ledger, run_id)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    # A pipe or a log file gets the summary line only, not frames of a bar.
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task(run.run_id, total=max(run.total, 1), counts=_counts(run))
        while True:
            progress.update(task, completed=run.done, counts=_counts(run))
            if run.state.finished:
                break
            time.sleep(interval)
            run = _get(ledger, run_id)
    return run


def summary_line(run: Run) -> str:
    if run.state is RunState.SKIPPED:
        return f"run {run.run_id} skipped: {run.reason}"
    elapsed = ""
    if run.finished_at is not None:
        seconds = (run.finished_at - run.opened_at).total_seconds()
        rate = f", {run.done / seconds:,.0f} jobs/s" if seconds > 0 else ""
        elapsed = f" in {seconds:.1f}s{rate}"
    tail = f" ({run.reason})" if run.reason else ""
    lost = f", {run.lost:,} lost" if run.lost else ""
    return (
        f"run {run.run_id} {run.state}: {run.succeeded:,} succeeded, {run.failed:,} failed"
        f"{lost} of {run.total:,}{elapsed}{tail}"
    )


def _counts(run: Run) -> str:
    return (
        f"dispatched {run.dispatched:,}  [green]succeeded {run.succeeded:,}[/]  "
        f"[red]failed {run.failed:,}[/]  lost {run.lost:,}  of {run.total:,}"
    )


def _get(ledger: Ledger, run_id: str) -> Run:
    run = ledger.get_run(run_id)
    if run is None:
        raise RunNotFound(f"run {run_id!r} is not in the ledger", hint="see `cronbridge runs list`")
    return run
