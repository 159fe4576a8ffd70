"""`cronbridge groups ...`: register, list, show, delete, pause and resume groups."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from bridge.cli.app import app, backend, err_console, out, print_json
from bridge.cli.commands import HELP_OPTIONS
from bridge.cli.registering import registration_progress
from bridge.cli.scheduling import (
    ScheduleOption,
    SlotToleranceOption,
    TimeZoneOption,
    manifest_json,
    schedule_from_options,
    schedule_lines,
)
from bridge.domain._show import show as quoted
from bridge.domain.controls import Controls, parse_overlap
from bridge.domain.durations import format_duration, parse_duration
from bridge.domain.groups import GroupManifest
from bridge.domain.pause import GroupHead, parse_until
from bridge.domain.tolerance import parse_tolerance
from bridge.domain.triggers import format_time
from bridge.exceptions import InvalidInput
from bridge.ports import SystemClock
from bridge.usecases.pause import PauseOutcome, pause_group, resume_group
from bridge.usecases.register import ListSource, register_group

__all__ = ["groups"]

groups = typer.Typer(
    help="Register, list, show, delete, pause and resume groups of jobs.",
    no_args_is_help=True,
    context_settings=HELP_OPTIONS,
)
app.add_typer(groups, name="groups")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
GroupName = Annotated[str, typer.Argument(metavar="GROUP", help="A registered group.")]
#: what `--list NAME=-` reads
STDIN = "-"


@groups.command("register")
def register(
    name: Annotated[
        str, typer.Argument(metavar="GROUP", help="Group name: 1-63 of a-z, 0-9 and '-'.")
    ],
    target: Annotated[
        str,
        typer.Option(
            metavar="TARGET",
            help="Where jobs go: python:MODULE:FUNCTION or http://URL (lambda:, sqs: on AWS).",
        ),
    ],
    job_lists: Annotated[
        list[str],
        typer.Option(
            "--list",
            metavar="NAME=FILE",
            help='A job list: JSON Lines, {"id": ..., "payload": ...} a line; FILE - reads'
            " standard input. Repeat for more lists.",
        ),
    ],
    max_rate: Annotated[
        float | None,
        typer.Option(metavar="N", help="Worker invocations per second across the group."),
    ] = None,
    max_concurrency: Annotated[
        int | None, typer.Option(metavar="N", help="Jobs running at once.")
    ] = None,
    overlap: Annotated[
        str,
        typer.Option(
            metavar="[allow|skip|replace]",
            help="A trigger while the previous run still runs: run anyway, record it as"
            " skipped, or cancel the old run.",
        ),
    ] = "skip",
    min_interval: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="A trigger whose time is closer than this to the previous run's is recorded"
            " as skipped (e.g. 30s, 5m).",
        ),
    ] = None,
    max_lateness: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="A trigger whose scheduled_time is older than this is recorded as skipped.",
        ),
    ] = None,
    max_attempts: Annotated[
        int, typer.Option(metavar="N", help="Tries per job, 1-3 (as Lambda's async retries).")
    ] = 3,
    timeout: Annotated[
        str, typer.Option(metavar="DURATION", help="Time limit per job attempt (at most 15m).")
    ] = "5m",
    deadline: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="After this, jobs without a result are sent once more; after as long again,"
            " recorded as lost (default: from timeout, attempts and Lambda's 6 h event age).",
        ),
    ] = None,
    tolerated_failures: Annotated[
        str,
        typer.Option(
            metavar="N|P%",
            help="A run whose failed and lost jobs are at most N, or P% of its jobs, still"
            " succeeds (its failures counted, and redrivable); one more fails it.",
        ),
    ] = "0",
    schedule: ScheduleOption = None,
    time_zone: TimeZoneOption = None,
    slot_tolerance: SlotToleranceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check every list, then store the group as a new version.

    Every line of every list is checked, and nothing is stored unless all are good.
    Durations are seconds (90) or 90s, 5m, 1h30m, 2d; at most 366 days.
    """
    controls = Controls(
        max_rate=max_rate,
        max_concurrency=max_concurrency,
        overlap=parse_overlap(overlap),
        min_interval=None
        if min_interval is None
        else parse_duration(min_interval, option="--min-interval"),
        max_lateness=None
        if max_lateness is None
        else parse_duration(max_lateness, option="--max-lateness"),
        max_attempts=max_attempts,
        timeout=parse_duration(timeout, option="--timeout"),
        deadline=None if deadline is None else parse_duration(deadline, option="--deadline"),
        tolerated_failures=parse_tolerance(tolerated_failures),
    )
    group_schedule = schedule_from_options(schedule, time_zone, slot_tolerance)
    sources = _list_sources(job_lists)
    where = backend()
    with registration_progress(err_console, name, sources) as on_progress:
        manifest = register_group(
            name,
            target,
            sources,
            controls,
            registry=where.registry,
            clock=SystemClock(),
            check_target=where.check_target,
            on_progress=on_progress,
            schedule=group_schedule,
        )
    if as_json:
        print_json(manifest_json(manifest, SystemClock().now()))
        return
    out.print(
        Text.assemble(
            "registered ",
            (manifest.group, "bold"),
            f" v{manifest.version}: {manifest.total_jobs:,} jobs in {len(manifest.lists)}"
            f" list(s) -> {manifest.target}",
        )
    )


@groups.command("list")
def list_groups(as_json: JsonOption = False) -> None:
    """Every registered group with its current version."""
    registry = backend().registry
    manifests = [registry.load_manifest(name) for name in registry.list_groups()]
    heads = [registry.head(m.group) for m in manifests]
    now = SystemClock().now()
    if as_json:
        print_json([_group_json(m, head, now) for m, head in zip(manifests, heads, strict=True)])
        return
    if not manifests:
        out.print("no groups yet: register one with `cronbridge groups register`")
        return
    table = Table("group", "version", "lists", "jobs", "target", "paused")
    for m, head in zip(manifests, heads, strict=True):
        pause = None if head is None else head.paused_at(now)
        table.add_row(
            m.group,
            f"v{m.version}",
            str(len(m.lists)),
            f"{m.total_jobs:,}",
            m.target,
            "" if pause is None else pause.describe().removeprefix("paused "),
        )
    out.print(table)


@groups.command("show")
def show(name: GroupName, as_json: JsonOption = False) -> None:
    """A group's current version: target, controls and lists."""
    registry = backend().registry
    manifest = registry.load_manifest(name)
    head = registry.head(name)
    now = SystemClock().now()
    if as_json:
        print_json(_group_json(manifest, head, now))
        return
    _print_manifest(manifest)
    pause = None if head is None else head.paused_at(now)
    if pause is not None:
        out.print(f"  {pause.describe()}: its triggers are recorded as skipped (paused)")


@groups.command("delete")
def delete(
    name: GroupName,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a group and all its versions. Runs in the ledger are kept."""
    registry = backend().registry
    registry.load_manifest(name)  # a clear error for an unknown group, before asking
    if not yes and not typer.confirm(f"delete group {name!r} and all its versions?"):
        raise typer.Exit(1)
    registry.delete_group(name)
    out.print(f"deleted group {name}")


@groups.command("pause")
def pause(
    name: GroupName,
    until: Annotated[
        str | None,
        typer.Option(
            metavar="T",
            help="End the pause by itself at T: a duration from now (2h, 1d) or a time"
            " (2026-01-01T03:00:00Z). Default: until `groups resume`.",
        ),
    ] = None,
    cancel_running: Annotated[
        bool,
        typer.Option(
            "--cancel-running", help="Cancel the group's running runs too (else they finish)."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Pause a group: its triggers are recorded as skipped (paused) and open no run.

    Runs in flight finish, unless --cancel-running. Re-registering keeps the pause.
    """
    clock = SystemClock()
    ends = None if until is None else parse_until(until, clock.now())
    where = backend()
    done = pause_group(
        name, ends, cancel_running, registry=where.registry, ledger=where.ledger, clock=clock
    )
    _said_pause(done, as_json)


@groups.command("resume")
def resume(name: GroupName, as_json: JsonOption = False) -> None:
    """Resume a paused group: its next trigger opens a run as usual."""
    _said_pause(resume_group(name, registry=backend().registry), as_json)


def _said_pause(done: PauseOutcome, as_json: bool) -> None:
    now = SystemClock().now()
    if as_json:
        shown = {"group": done.group, **_pause_json(done.head, now)}
        print_json({**shown, "cancelled": [run.run_id for run in done.cancelled]})
        return
    pause = done.head.paused_at(now)
    if pause is None:
        out.print(f"resumed {done.group}: its next trigger opens a run")
        return
    out.print(f"{done.group} is {pause.describe()}: its triggers are recorded as skipped")
    for run in done.cancelled:
        out.print(f"  cancelled run {run.run_id}")
    if not done.cancelled:
        out.print("  runs in flight finish (--cancel-running cancels them)")


def _pause_json(head: GroupHead | None, now: datetime) -> dict[str, Any]:
    pause = None if head is None else head.paused_at(now)
    return {
        "paused": pause is not None,
        "paused_since": None if pause is None else format_time(pause.since),
        "paused_until": None if pause is None or pause.until is None else format_time(pause.until),
    }


def _group_json(manifest: GroupManifest, head: GroupHead | None, now: datetime) -> dict[str, Any]:
    return {**manifest_json(manifest, now), **_pause_json(head, now)}


def _list_sources(specs: list[str]) -> list[ListSource]:
    sources = [_list_source(spec) for spec in specs]
    from_stdin = [spec for spec in specs if spec.partition("=")[2] == STDIN]
    if len(from_stdin) > 1:
        raise InvalidInput(
            f"{len(from_stdin)} lists read standard input ({', '.join(from_stdin)});"
            " it can be read only once",
            hint="give every list but one as a file: --list NAME=FILE",
        )
    return sources


def _list_source(spec: str) -> ListSource:
    name, sep, file = spec.partition("=")
    if not sep or not name or not file:
        raise InvalidInput(
            f"--list {quoted(spec)} must be NAME=FILE",
            hint="for example --list eu=jobs-eu.jsonl, or --list eu=- to read standard input",
        )
    if file == STDIN:
        return ListSource(name=name, open_lines=lambda: _stdin_lines(sys.stdin))
    path = Path(file).expanduser()
    where = f"job list file {quoted(file)} (list {quoted(name)})"
    hint = (
        "give a JSON Lines file, one job a line, as --list NAME=FILE (or NAME=- for standard input)"
    )
    if path.is_dir():
        raise InvalidInput(f"{where} is a directory", hint=hint)
    if not path.exists():
        raise InvalidInput(f"{where} does not exist", hint=hint)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise InvalidInput(f"{where} is not a file this user can read", hint=hint)
    return ListSource.from_path(name, path)


def _stdin_lines(stdin: IO[str]) -> Iterator[bytes]:
    """Standard input's lines as bytes, as a file's are; stdin itself stays open."""
    stream = getattr(stdin, "buffer", None)
    if stream is not None:
        yield from stream
    else:  # a text stream with no bytes beneath it
        for line in stdin:
            yield line.encode()


def _tolerance(c: Controls) -> str:
    tolerance = c.tolerated_failures
    share = "jobs" if tolerance.percent is None else "of a run's jobs"
    return f"up to {tolerance} {share} may fail or be lost, and a run still succeeds"


def _print_manifest(m: GroupManifest) -> None:
    c = m.controls
    out.print(Text.assemble((m.group, "bold"), f" v{m.version} (registered {m.created_at})"))
    out.print(f"  target        {m.target}")
    out.print(f"  jobs          {m.total_jobs:,} in {len(m.lists)} list(s)")
    out.print(f"  overlap       {c.overlap}")
    out.print(f"  max_attempts  {c.max_attempts}, timeout {format_duration(c.timeout)}")
    for label, value in (
        ("max_rate", None if c.max_rate is None else f"{c.max_rate:g}/s"),
        ("max_concurrency", c.max_concurrency),
        ("min_interval", None if c.min_interval is None else format_duration(c.min_interval)),
        ("max_lateness", None if c.max_lateness is None else format_duration(c.max_lateness)),
        ("deadline", None if c.deadline is None else format_duration(c.deadline)),
        ("tolerated_failures", None if c.tolerated_failures.zero else _tolerance(c)),
    ):
        if value is not None:
            out.print(f"  {label:<13} {value}")
    for line in schedule_lines(m.schedule, SystemClock().now()) if m.schedule else ():
        out.print(f"  {line}", markup=False, soft_wrap=True)
    table = Table("list", "jobs", "parts")
    for jl in m.lists:
        table.add_row(jl.name, f"{jl.jobs:,}", str(len(jl.parts)))
    out.print(table)
