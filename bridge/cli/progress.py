"""Watching a run: its progress read from the ledger until it ends, then a one-line summary.

A terminal gets a live bar; a pipe or a log file a line at the start and every
`REPORT_EVERY` seconds; `--json` one object per change (and per `REPORT_EVERY` without
one), the last with the finished state. Each view takes its counters from one read of
the run, and counts the elapsed time from when the run opened.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from bridge.domain.durations import format_duration
from bridge.domain.runs import Run, RunState
from bridge.exceptions import CronbridgeError
from bridge.ports import Clock, Ledger, SystemClock
from bridge.usecases.jobs import find_run

__all__ = [
    "REPORT_EVERY",
    "STALL_AFTER",
    "StillRunning",
    "follow",
    "progress_line",
    "progress_record",
    "shown",
    "summary_line",
    "watch_run",
]

#: seconds between progress lines (and JSON objects) while nothing else is shown
REPORT_EVERY = 5.0
#: seconds a run may stand still before we ask whether its runtime is up
STALL_AFTER = 5.0

#: asks whether the runtime is up: None if it answers, else what to tell the user
RuntimeProbe = Callable[[], str | None]


class StillRunning(CronbridgeError):
    """The wait's --timeout ran out while the run goes on (exit code 124, as timeout(1))."""

    exit_code = 124
    code = "StillRunning"

    def __init__(self, run: Run, waited: float) -> None:
        super().__init__(
            f"run {run.run_id} is still running after {format_duration(waited)}: "
            f"{run.done:,} of {run.total:,} jobs have a result",
            hint=f"it goes on without this command: follow it with "
            f"`cronbridge runs watch {run.run_id}`, or see `cronbridge runs show {run.run_id}`",
        )
        self.run = run


def watch_run(
    ledger: Ledger,
    run_id: str,
    console: Console,
    *,
    interval: float = 0.2,
    timeout: float | None = None,
    records: Callable[[dict[str, Any]], None] | None = None,
    runtime_down: RuntimeProbe | None = None,
    warn: Console | None = None,
    clock: Clock | None = None,
    every: float = REPORT_EVERY,
) -> Run:
    """Show progress until the run has finished; the finished run.

    With `records`, nothing is shown: each progress object goes to it instead.
    `runtime_down` is asked whenever the run stands still; what it says goes to `warn`.
    StillRunning once `timeout` seconds have passed."""
    clock = clock or SystemClock()
    stalled = None if runtime_down is None else _RuntimeCheck(runtime_down, warn or console)
    snapshots = follow(
        ledger, run_id, clock=clock, interval=interval, timeout=timeout, stalled=stalled
    )
    if records is not None:
        return _report_records(snapshots, records, clock, every)
    if console.is_terminal:
        return _show_bar(snapshots, console, clock)
    return _report_lines(snapshots, console, clock, every)


def follow(
    ledger: Ledger,
    run_id: str,
    *,
    clock: Clock,
    interval: float,
    timeout: float | None = None,
    stalled: Callable[[], None] | None = None,
) -> Iterator[Run]:
    """Each read of the run until one finds it finished (the last one yielded).

    `stalled` is called at the first read of a running run, and again whenever it has
    not moved for STALL_AFTER seconds. StillRunning once `timeout` seconds have passed."""
    start = clock.monotonic()
    run = find_run(ledger, run_id)
    moved_at = start
    asked_at: float | None = None
    while True:
        yield run
        if run.state.finished:
            return
        now = clock.monotonic()
        if stalled is not None and (
            asked_at is None or now - max(moved_at, asked_at) >= STALL_AFTER
        ):
            stalled()
            asked_at = now
        if timeout is not None and now - start >= timeout:
            raise StillRunning(run, timeout)
        left = math.inf if timeout is None else start + timeout - now
        clock.sleep(min(interval, left))
        previous, run = run, find_run(ledger, run.run_id)
        if _moved(previous, run):
            moved_at = clock.monotonic()


def shown(run: Run) -> Run:
    """The run as the CLI shows it. A part counts as dispatched once all of its jobs
    are handed over, and its first results come in before that: dispatched is shown as
    at least the jobs that have a result, so the counters never contradict each other."""
    return replace(run, dispatched=max(run.dispatched, run.done))


def summary_line(run: Run) -> str:
    if run.state.never_ran:
        return f"run {run.run_id} {run.state}: {run.reason}"
    elapsed = ""
    if run.finished_at is not None:
        seconds = (run.finished_at - run.opened_at).total_seconds()
        rate = f", {run.done / seconds:,.0f} jobs/s" if seconds > 0 else ""
        elapsed = f" in {seconds:.1f}s{rate}"
    tail = f" ({run.reason})" if run.reason else ""
    lost = f", {run.lost:,} lost" if run.lost else ""
    return (
        f"run {run.run_id} {run.state_label}: {run.succeeded:,} succeeded, {run.failed:,} failed"
        f"{lost} of {run.total:,}{elapsed}{tail}"
    )


def progress_line(run: Run, clock: Clock) -> str:
    """One line of progress, for a pipe or a log file."""
    run = shown(run)
    return (
        f"run {run.run_id} {run.state}: {run.done:,} of {run.total:,} jobs have a result"
        f" (dispatched {run.dispatched:,}, succeeded {run.succeeded:,},"
        f" failed {run.failed:,}, lost {run.lost:,}), {_clock_time(_elapsed(run, clock))}"
        " since it opened"
    )


def progress_record(run: Run, clock: Clock) -> dict[str, Any]:
    """The run as a progress object: its JSON form, with `done` and `elapsed_seconds`."""
    record = shown(run).to_dict()
    record["done"] = run.done
    record["elapsed_seconds"] = round(_elapsed(run, clock), 3)
    return record


def _report_records(
    snapshots: Iterator[Run], emit: Callable[[dict[str, Any]], None], clock: Clock, every: float
) -> Run:
    last: Run | None = None
    emitted_at = 0.0
    for run in snapshots:
        now = clock.monotonic()
        if last is None or _moved(last, run) or now - emitted_at >= every:
            emit(progress_record(run, clock))
            emitted_at = now
        last = run
    assert last is not None  # follow yields at least once
    return last


def _report_lines(snapshots: Iterator[Run], console: Console, clock: Clock, every: float) -> Run:
    last: Run | None = None
    printed_at: float | None = None
    for run in snapshots:
        now = clock.monotonic()
        if not run.state.finished and (printed_at is None or now - printed_at >= every):
            console.print(progress_line(run, clock), markup=False, highlight=False)
            printed_at = now
        last = run
    assert last is not None
    return last


def _show_bar(snapshots: Iterator[Run], console: Console, clock: Clock) -> Run:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[counts]}"),
        TextColumn("{task.fields[elapsed]}"),
    )
    last: Run | None = None
    with Progress(*columns, console=console) as progress:
        task = None
        for run in snapshots:
            counts, elapsed = _counts(run), _clock_time(_elapsed(run, clock))
            if task is None:
                task = progress.add_task(
                    run.run_id, total=max(run.total, 1), counts=counts, elapsed=elapsed
                )
            progress.update(task, completed=run.done, counts=counts, elapsed=elapsed)
            last = run
    assert last is not None
    return last


class _RuntimeCheck:
    """Asks whether the runtime is up; says so when that changes, not at every ask."""

    def __init__(self, probe: RuntimeProbe, warn: Console) -> None:
        self.probe = probe
        self.warn = warn
        self.down = False

    def __call__(self) -> None:
        problem = self.probe()
        if problem is not None and not self.down:
            self.warn.print(f"warning: {problem}", markup=False, highlight=False)
        elif problem is None and self.down:
            self.warn.print("the runtime answers again", markup=False, highlight=False)
        self.down = problem is not None


def _moved(before: Run, after: Run) -> bool:
    return _position(before) != _position(after)


def _position(run: Run) -> tuple[RunState, int, int, int, int, int]:
    return (run.state, run.attempt, run.dispatched, run.succeeded, run.failed, run.lost)


def _elapsed(run: Run, clock: Clock) -> float:
    """Seconds since the run opened: until it finished, or until now."""
    end = run.finished_at or clock.now()
    return max(0.0, (end - run.opened_at).total_seconds())


def _clock_time(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _counts(run: Run) -> str:
    run = shown(run)
    return (
        f"dispatched {run.dispatched:,}  [green]succeeded {run.succeeded:,}[/]  "
        f"[red]failed {run.failed:,}[/]  lost {run.lost:,}  of {run.total:,}"
    )
