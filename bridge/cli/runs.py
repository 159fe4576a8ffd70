"""`cronbridge runs ...`: list, show, jobs, watch, redrive, cancel and resume runs.

Wherever a run is named, its whole id, a unique prefix of it or GROUP@latest will do
(bridge.usecases.jobs.find_run)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from bridge.cli.app import app, backend, err_console, out, print_json, require_group
from bridge.cli.backend import Backend
from bridge.cli.job_view import (
    counts_table,
    failures_table,
    jobs_table,
    page_note,
    print_job,
    write_csv,
)
from bridge.cli.progress import shown, summary_line, watch_run
from bridge.domain.durations import parse_duration
from bridge.domain.runs import Run, RunState
from bridge.domain.triggers import format_time
from bridge.exceptions import InvalidInput
from bridge.usecases.actions import RunActions
from bridge.usecases.jobs import (
    find_run,
    job_detail,
    job_rows,
    run_overview,
)

__all__ = ["TimeoutOption", "finish_watch", "parse_timeout", "runs"]

runs = typer.Typer(
    help="List, show, watch, redrive, cancel and resume runs. RUN is a run id, a unique "
    "prefix of one, or GROUP@latest.",
    no_args_is_help=True,
)
app.add_typer(runs, name="runs")

RunArgument = Annotated[
    str, typer.Argument(metavar="RUN", help="A run id, a unique prefix of one, or GROUP@latest.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
TimeoutOption = Annotated[
    str | None,
    typer.Option(
        help="Stop waiting after this long (90, 90s, 5m, 1h): exit code 124, the run goes on."
    ),
]


def _find(where: Backend, text: str) -> Run:
    return find_run(where.ledger, text)


def _actions(where: Backend) -> RunActions:
    """What `runs redrive|cancel|resume` and the web console's buttons do."""
    return RunActions(where.registry, where.ledger, where.publishers, where.timing)


@runs.command("list")
def list_runs(
    group: Annotated[str | None, typer.Argument(help="Only this group's runs.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Recent runs, newest first."""
    found = [shown(run) for run in backend().ledger.list_runs(group, limit)]
    if not found and group is not None:
        require_group(group)  # a typo is a mistake, not "no runs yet"
    if as_json:
        print_json([run.to_dict() for run in found])
        return
    if not found:
        out.print("no runs yet" + (f" for group {group}" if group else ""), markup=False)
        return
    table = Table()
    # The id is what every other command takes: never cut, whatever the terminal's width.
    table.add_column("run", no_wrap=True, overflow="fold")
    table.add_column("state", overflow="fold")
    table.add_column("succeeded / failed / lost of total", justify="right", overflow="fold")
    table.add_column("slot (UTC)", overflow="fold")
    table.add_column("opened (UTC)", overflow="fold")
    for run in found:
        table.add_row(
            run.run_id,
            run.state_label,
            f"{run.succeeded:,} / {run.failed:,} / {run.lost:,} of {run.total:,}",
            run.slot_time.strftime("%Y-%m-%d %H:%M:%S") if run.scheduled else "-",
            "-" if run.state is RunState.MISSED else run.opened_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    out.print(table)


@runs.command("show")
def show(
    run_id: RunArgument,
    failed: Annotated[
        int, typer.Option(min=0, help="Show up to this many failed and lost jobs.")
    ] = 20,
    job: Annotated[
        str | None, typer.Option("--job", help="Show this job's result in full instead.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """One run: state, counters, per-list counts, failed and lost jobs.

    With --job ID, that one job's whole result and error instead."""
    where = backend()
    run = shown(_find(where, run_id))
    if job is not None:
        row, latest = job_detail(where.ledger, run, job)
        if as_json:
            data = row.to_dict()
            if row.result is None:  # pending again: what its earlier attempt did
                data["earlier_result"] = latest.to_dict() if latest else None
            print_json(data)
        else:
            print_job(out, run, row, latest)
        return
    overview = run_overview(where.ledger, where.registry, run)
    more = max(0, len(overview.failures) - max(0, failed))
    failures = overview.failures[: max(0, failed)]
    if as_json:
        data = run.to_dict()
        data["lists"] = [c.to_dict() for c in overview.lists]
        data["failed_jobs"] = [row.to_dict() for row in failures]
        data["failed_jobs_not_shown"] = more
        print_json(data)
        return
    out.print(summary_line(run), markup=False)
    deadline = f", deadline {format_time(run.deadline)}" if run.deadline else ""
    tolerated = f", tolerates {run.tolerance} failed or lost" if not run.tolerance.zero else ""
    out.print(
        f"  group {run.group} v{run.version}, source {run.source}, dispatched {run.dispatched:,}"
        f", attempt {run.attempt}{deadline}{tolerated}",
        markup=False,
    )
    if overview.lists:
        out.print(counts_table(overview.lists))
    if failures:
        out.print(failures_table(failures))
    if more:
        out.print(
            f"and {more:,} more failed or lost job(s): "
            f"`cronbridge runs jobs {run.run_id} --status failed` (or lost)",
            markup=False,
        )


@runs.command("jobs")
def jobs(
    run_id: RunArgument,
    status: Annotated[
        str | None,
        typer.Option(
            help="Only jobs whose result is succeeded, failed or lost, or pending ones "
            "(no result at the run's attempt yet)."
        ),
    ] = None,
    list_name: Annotated[str | None, typer.Option("--list", help="Only this job list.")] = None,
    limit: Annotated[
        int,
        typer.Option(min=0, help="At most this many: by list and job id, then pending; 0 for all."),
    ] = 50,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV for spreadsheets.")] = False,
) -> None:
    """A run's jobs: status, tries, duration, the start of result and error.

    All of each with --json, --csv or `runs show RUN --job ID`."""
    if as_json and as_csv:
        raise InvalidInput("--json and --csv: choose one")
    where = backend()
    run = _find(where, run_id)
    page = job_rows(
        where.ledger,
        where.registry,
        run,
        status=status,
        list_name=list_name,
        limit=limit or None,
    )
    note = page_note(page, run)
    if as_json or as_csv:
        if as_json:
            print_json([row.to_dict() for row in page.rows])
        else:
            write_csv(page.rows)
        if note:
            err_console.print(note, markup=False)
        return
    if not page.rows:
        out.print(
            f"no {status + ' ' if status else ''}job results for run {run.run_id} yet"
            if status != "pending"
            else f"no pending jobs in run {run.run_id}",
            markup=False,
        )
        return
    out.print(jobs_table(page.rows))
    if note:
        out.print(note, markup=False)


@runs.command("watch")
def watch(run_id: RunArgument, timeout: TimeoutOption = None, as_json: JsonOption = False) -> None:
    """Follow a run to its end: a progress bar in a terminal, a line every few seconds in
    a pipe, JSON lines with --json. Exit 0 only if the run succeeded (its failed and lost
    jobs, if any, within its group's --tolerated-failures)."""
    where = backend()
    finish_watch(where, _find(where, run_id).run_id, timeout=parse_timeout(timeout), lines=as_json)


@runs.command("redrive")
def redrive(
    run_id: RunArgument,
    wait: Annotated[bool, typer.Option("--wait", help="Watch the run until it ends.")] = False,
    timeout: TimeoutOption = None,
) -> None:
    """Run a failed run's failed and lost jobs again, or those a succeeded run tolerated
    (locally, needs `cronbridge serve`)."""
    limit = parse_timeout(timeout, wait)
    where = backend()
    outcome = _actions(where).redrive(run_id)
    out.print(
        f"redriving {outcome.jobs:,} failed or lost job(s) of run {outcome.run.run_id}"
        f" (attempt {outcome.run.attempt})",
        markup=False,
    )
    if wait:
        finish_watch(where, outcome.run.run_id, timeout=limit)


@runs.command("cancel")
def cancel(
    run_id: RunArgument,
    reason: Annotated[str, typer.Option(help="Kept with the run.")] = "",
) -> None:
    """Stop a running run: its publishers dispatch none of its jobs after this."""
    run = _actions(backend()).cancel(run_id, reason)
    out.print(summary_line(run), markup=False)


@runs.command("resume")
def resume(
    run_id: RunArgument,
    wait: Annotated[bool, typer.Option("--wait", help="Watch the run until it ends.")] = False,
    timeout: TimeoutOption = None,
) -> None:
    """Send a running or cancelled run's jobs that have no result yet, now."""
    limit = parse_timeout(timeout, wait)
    where = backend()
    outcome = _actions(where).resume(run_id)
    found = outcome.run.run_id
    what = {
        "launched": "started its publishers",
        "resent": f"sent its {outcome.jobs:,} job(s) without a result again",
        "finished": "every job had a result; it has ended",
    }[outcome.how]
    out.print(f"run {found}: {what}", markup=False)
    if wait:
        finish_watch(where, found, timeout=limit)


def parse_timeout(text: str | None, wait: bool = True) -> float | None:
    """--timeout's seconds; InvalidInput if it is given without --wait."""
    if text is None:
        return None
    if not wait:
        raise InvalidInput("--timeout is how long --wait waits: add --wait")
    return parse_duration(text, option="--timeout")


def finish_watch(
    where: Backend,
    run_id: str,
    *,
    timeout: float | None = None,
    lines: bool = False,
    final: dict[str, Any] | None = None,
) -> None:
    """Watch the run to its end (StillRunning after `timeout` seconds), then say how it
    ended: a summary line; with `lines`, JSON lines all along, the last the final state;
    with `final`, nothing along the way, then the final run as one JSON object with
    `final`'s keys added. Exit code 1 unless the run succeeded (a run whose failures
    were within its tolerance did: exit code 0, and the summary names them)."""

    def one_line(record: dict[str, Any]) -> None:
        print_json(record, one_line=True)

    quiet = final is not None
    run = watch_run(
        where.ledger,
        run_id,
        out,
        timeout=timeout,
        records=one_line if lines else (lambda record: None) if quiet else None,
        runtime_down=where.runtime_down,
        warn=err_console,
    )
    if final is not None:
        print_json({**shown(run).to_dict(), **final})
    elif not lines:
        out.print(summary_line(run), markup=False)
    if run.state is not RunState.SUCCEEDED:
        raise typer.Exit(1)
