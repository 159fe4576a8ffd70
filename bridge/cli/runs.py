"""`cronbridge runs ...`: list, show, watch and redrive runs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bridge.cli.app import app, backend, out, print_json
from bridge.cli.progress import summary_line, watch_run
from bridge.domain.results import JobStatus
from bridge.domain.runs import Run, RunState
from bridge.domain.triggers import format_time
from bridge.exceptions import RunNotFound
from bridge.ports import Ledger
from bridge.usecases.redrive import redrive_run

__all__ = ["finish_watch", "runs"]

runs = typer.Typer(help="List, show, watch and redrive runs.", no_args_is_help=True)
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
    table = Table("run", "state", "succeeded", "failed", "total", "opened")
    for run in found:
        table.add_row(
            run.run_id,
            run.state.value,
            f"{run.succeeded:,}",
            f"{run.failed:,}",
            f"{run.total:,}",
            format_time(run.opened_at),
        )
    out.print(table)


@runs.command("show")
def show(
    run_id: str,
    failed: Annotated[int, typer.Option(help="Show up to this many failed jobs.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """One run: state, counters, and its failed jobs."""
    ledger = _ledger()
    run = _run(ledger, run_id)
    failures = ledger.job_results(run_id, JobStatus.FAILED.value, failed)
    if as_json:
        data = run.to_dict()
        data["failed_jobs"] = [
            {"list": r.ref.list_name, "job": r.ref.job_id, "tries": r.tries, "error": r.error}
            for r in failures
        ]
        print_json(data)
        return
    out.print(summary_line(run))
    out.print(
        f"  group {run.group} v{run.version}, source {run.source}, dispatched {run.dispatched:,}"
        f", attempt {run.attempt}"
    )
    if failures:
        table = Table("list", "job", "tries", "error", title="failed jobs")
        for r in failures:
            table.add_row(r.ref.list_name, r.ref.job_id, str(r.tries), r.error)
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
    """Run a failed run's failed jobs again (locally, needs `cronbridge serve` running)."""
    where = backend()
    _run(where.ledger, run_id)
    outcome = redrive_run(
        run_id, registry=where.registry, ledger=where.ledger, publishers=where.publishers()
    )
    out.print(
        f"redriving {outcome.jobs:,} failed job(s) of run {run_id} (attempt {outcome.run.attempt})"
    )
    if wait:
        finish_watch(where.ledger, run_id)


def finish_watch(ledger: Ledger, run_id: str) -> None:
    run = watch_run(ledger, run_id, out)
    out.print(summary_line(run))
    if run.state is not RunState.SUCCEEDED:
        raise typer.Exit(1)
