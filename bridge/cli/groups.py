"""`cronbridge groups ...`: register, list, show and delete groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bridge.cli.app import app, backend, out, print_json
from bridge.domain.controls import Controls, parse_overlap
from bridge.domain.durations import format_duration, parse_duration
from bridge.domain.groups import GroupManifest
from bridge.exceptions import InvalidInput
from bridge.ports import SystemClock
from bridge.usecases.register import ListSource, register_group

__all__ = ["groups"]

groups = typer.Typer(help="Register, list, show and delete groups of jobs.", no_args_is_help=True)
app.add_typer(groups, name="groups")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@groups.command("register")
def register(
    name: Annotated[str, typer.Argument(help="Group name: 1-63 of a-z, 0-9 and '-'.")],
    target: Annotated[
        str,
        typer.Option(
            help="Where jobs go: python:MODULE:FUNCTION or http://URL (lambda:, sqs: on AWS)."
        ),
    ],
    job_lists: Annotated[
        list[str],
        typer.Option(
            "--list",
            help='A job list as NAME=FILE (JSON Lines: {"id": ..., "payload": ...}). Repeat for more.',
        ),
    ],
    max_rate: Annotated[
        float | None, typer.Option(help="Worker invocations per second across the group.")
    ] = None,
    max_concurrency: Annotated[int | None, typer.Option(help="Jobs running at once.")] = None,
    overlap: Annotated[
        str, typer.Option(help="While the previous run runs: allow, skip or replace.")
    ] = "skip",
    min_interval: Annotated[
        str | None, typer.Option(help="Reject triggers closer than this (e.g. 30s, 5m).")
    ] = None,
    max_lateness: Annotated[
        str | None, typer.Option(help="Skip triggers scheduled longer ago than this.")
    ] = None,
    max_attempts: Annotated[
        int, typer.Option(help="Tries per job, 1-3 (as Lambda's async retries).")
    ] = 3,
    timeout: Annotated[str, typer.Option(help="Time limit per job attempt (at most 15m).")] = "5m",
    deadline: Annotated[
        str | None,
        typer.Option(
            help="After this, jobs without a result are sent once more; after as long again,"
            " recorded as lost (default: from timeout, attempts and Lambda's 6 h event age)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check every line of every list, then store the group as a new version."""
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
    )
    sources = [_list_source(spec) for spec in job_lists]
    where = backend()
    manifest = register_group(
        name,
        target,
        sources,
        controls,
        registry=where.registry,
        clock=SystemClock(),
        check_target=where.check_target,
    )
    if as_json:
        print_json(manifest.to_dict())
        return
    out.print(
        f"registered [bold]{manifest.group}[/] v{manifest.version}: {manifest.total_jobs:,} jobs in "
        f"{len(manifest.lists)} list(s) -> {manifest.target}"
    )


@groups.command("list")
def list_groups(as_json: JsonOption = False) -> None:
    """Every registered group with its current version."""
    registry = backend().registry
    manifests = [registry.load_manifest(name) for name in registry.list_groups()]
    if as_json:
        print_json([m.to_dict() for m in manifests])
        return
    if not manifests:
        out.print("no groups yet: register one with `cronbridge groups register`")
        return
    table = Table("group", "version", "lists", "jobs", "target")
    for m in manifests:
        table.add_row(m.group, f"v{m.version}", str(len(m.lists)), f"{m.total_jobs:,}", m.target)
    out.print(table)


@groups.command("show")
def show(name: str, as_json: JsonOption = False) -> None:
    """A group's current version: target, controls and lists."""
    manifest = backend().registry.load_manifest(name)
    if as_json:
        print_json(manifest.to_dict())
        return
    _print_manifest(manifest)


@groups.command("delete")
def delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a group and all its versions. Runs in the ledger are kept."""
    registry = backend().registry
    registry.load_manifest(name)  # a clear error for an unknown group, before asking
    if not yes and not typer.confirm(f"delete group {name!r} and all its versions?"):
        raise typer.Exit(1)
    registry.delete_group(name)
    out.print(f"deleted group {name}")


def _list_source(spec: str) -> ListSource:
    name, sep, file = spec.partition("=")
    if not sep or not name or not file:
        raise InvalidInput(
            f"--list {spec!r} must be NAME=FILE", hint="for example --list eu=jobs-eu.jsonl"
        )
    path = Path(file).expanduser()
    if not path.is_file():
        raise InvalidInput(
            f"job list file {file!r} (list {name!r}) does not exist or is not a file"
        )
    return ListSource.from_path(name, path)


def _print_manifest(m: GroupManifest) -> None:
    c = m.controls
    out.print(f"[bold]{m.group}[/] v{m.version} (registered {m.created_at})")
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
    ):
        if value is not None:
            out.print(f"  {label:<13} {value}")
    table = Table("list", "jobs", "parts")
    for jl in m.lists:
        table.add_row(jl.name, f"{jl.jobs:,}", str(len(jl.parts)))
    out.print(table)
