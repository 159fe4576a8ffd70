"""`cronbridge runs ...`: list, show, watch, redrive, cancel and resume runs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bridge.cli.app import app, backend, out, print_json
from bridge.cli.progress import summary_line, watch_run
from bridge.domain.results import JobStatus
from bridge.domain.runs import Run, RunState
from bridge.domain.triggers import format_time
from bridge.exceptions import InvalidInput, RunNotFound
from bridge.ports import Ledger, SystemClock
from bridge.usecases.control import cancel_run, resume_run
from bridge.usecases.jobs import job_results
from bridge.usecases.redrive import redrive_run

__all__ = ["finish_watch", "runs"]

runs = typer.Typer(help="List, show, watch, redrive, cancel and resume runs.", no_args_is_help=True)
app.add_typer(runs, name="runs")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _ledger() -> Ledger:
    return backend().ledger


def _run(ledger: Ledger, run_id: str) -> Run:
    run = ledger.get_run(run_id)
    if run is None:
        raise RunNotFound(f"run {run_id!r} is not in the ledger", hint="see `cronbridge runs list`")
    return run


@runs.command("list")
def list_runs(
    group: Annotated[str | None, typer.Argument(help="Only this group's runs.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Recent runs, newest first."""
    found = _ledger().list_runs(group, limit)
    if as_json:
        print_json([run.to_dict() for run in found])
        return
    if not found:
        out.print("no runs yet" + (f" for group {group}" if group else ""))
        return
    table = Table("run", "state", "succeeded", "failed", "lost", "total", "opened")
    for run in found:
        table.add_row(
            run.run_id,
            run.state.value,
            f"{run.succeeded:,}",
            f"{run.failed:,}",
            f"{run.lost:,}",
            f"{run.total:,}",
            format_time(run.opened_at),
        )
    out.print(table)


@runs.command("show")
def show(
    run_id: str,
    failed: Annotated[int, typer.Option(help="Show up to this many failed and lost jobs.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """One run: state, counters, its deadline, and its failed and lost jobs."""
    ledger = _ledger()
    run = _run(ledger, run_id)
    failures = [r for r in job_results(ledger, run_id) if r.status is not JobStatus.SUCCEEDED][
        :failed
    ]
    if as_json:
        data = run.to_dict()
        data["failed_jobs"] = [r.to_dict() for r in failures]
        print_json(data)
        return
    out.print(summary_line(run), markup=False)
    deadline = f", deadline {format_time(run.deadline)}" if run.deadline else ""
    out.print(
        f"  group {run.group} v{run.version}, source {run.source}, dispatched {run.dispatched:,}"
        f", attempt {run.attempt}{deadline}",
        markup=False,
    )
    if failures:
        table = Table("list", "job", "status", "tries", "error", title="failed and lost jobs")
        for r in failures:
            table.add_row(
                r.ref.list_name, r.ref.job_id, r.status.value, str(r.tries), r.error.split("\n")[0]
            )
        out.print(table)


@runs.command("jobs")
def jobs(
    run_id: str,
    status: Annotated[
        str | None, typer.Option(help="Only jobs whose result is succeeded, failed or lost.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, by list and job id.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """A run's jobs: each one's result, tries, duration, error and what it returned."""
    if status is not None and status not in {s.value for s in JobStatus}:
        raise InvalidInput(
            f"--status must be one of {', '.join(s.value for s in JobStatus)}, not {status!r}"
        )
    found = job_results(_ledger(), run_id, status, limit)
    if as_json:
        print_json([r.to_dict() for r in found])
        return
    if not found:
        out.print(
            f"no {status + ' ' if status else ''}job results for run {run_id} yet", markup=False
        )
        return
    table = Table("list", "job", "status", "tries", "ms", "returned / error")
    for r in found:
        shown = r.error.split("\n")[0] if r.error else (r.output or "")
        if r.truncated:
            shown += " (cut)"
        duration = "" if r.duration_ms is None else f"{r.duration_ms:,.0f}"
        table.add_row(
            r.ref.list_name, r.ref.job_id, r.status.value, str(r.tries), duration, shown[:80]
        )
    out.print(table)


@runs.command("watch")
def watch(run_id: str) -> None:
    """Follow a run to its end with a progress bar; exit 0 only if every job succeeded."""
    finish_watch(_ledger(), run_id)


@runs.command("redrive")
def redrive(
    run_id: str,
    wait: Annotated[bool, typer.Option("--wait", help="Watch the run until it ends.")] = False,
) -> None:
    """Run a failed run's failed and lost jobs again (locally, needs `cronbridge serve`)."""
    where = backend()
    _run(where.ledger, run_id)
    outcome = redrive_run(
        run_id,
        registry=where.registry,
        ledger=where.ledger,
        publishers=where.publishers(),
        clock=SystemClock(),
        timing=where.timing,
    )
    out.print(
        f"redriving {outcome.jobs:,} failed or lost job(s) of run {run_id}"
        f" (attempt {outcome.run.attempt})",
        markup=False,
    )
    if wait:
        finish_watch(where.ledger, run_id)


@runs.command("cancel")
def cancel(
    run_id: str,
    reason: Annotated[str, typer.Option(help="Kept with the run.")] = "",
) -> None:
    """Stop a running run: its publishers dispatch none of its jobs after this."""
    run = cancel_run(run_id, ledger=_ledger(), clock=SystemClock(), reason=reason)
    out.print(summary_line(run), markup=False)


@runs.command("resume")
def resume(
    run_id: str,
    wait: Annotated[bool, typer.Option("--wait", help="Watch the run until it ends.")] = False,
) -> None:
    """Send a running or cancelled run's jobs that have no result yet, now."""
    where = backend()
    outcome = resume_run(
        run_id,
        registry=where.registry,
        ledger=where.ledger,
        publishers=where.publishers(),
        clock=SystemClock(),
        timing=where.timing,
    )
    what = {
        "launched": "started its publishers",
        "resent": f"sent its {outcome.jobs:,} job(s) without a result again",
        "finished": "every job had a result; it has ended",
    }[outcome.how]
    out.print(f"run {run_id}: {what}", markup=False)
    if wait:
        finish_watch(where.ledger, run_id)


def finish_watch(ledger: Ledger, run_id: str) -> None:
    run = watch_run(ledger, run_id, out)
    out.print(summary_line(run), markup=False)
    if run.state is not RunState.SUCCEEDED:
        raise typer.Exit(1)
