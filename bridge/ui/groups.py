"""What the groups page and a group's page show, read through the CLI's ports.

A group's page reads its newest runs once (as many as its page and the chart need) and
the manifests of its last versions; no job result is read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.cli.backend import Backend
from bridge.cli.progress import shown
from bridge.domain.controls import Controls
from bridge.domain.durations import format_duration
from bridge.domain.groups import GroupManifest
from bridge.domain.names import NAME_PATTERN
from bridge.domain.pause import Pause
from bridge.domain.runs import Run
from bridge.exceptions import GroupNotFound, NotFound
from bridge.ports import SystemClock

__all__ = [
    "CHART_RUNS",
    "PAGE_SIZE",
    "VERSIONS_SHOWN",
    "GroupPage",
    "GroupRow",
    "controls_summary",
    "group_page",
    "group_rows",
    "page_number",
]

#: rows of a paged table
PAGE_SIZE = 50
#: the newest runs the durations chart draws
CHART_RUNS = 100
#: a group's newest versions shown (each is one read of the registry)
VERSIONS_SHOWN = 20


def page_number(text: str | None) -> int:
    """`?page=N` as a page number from 1; anything else is the first page."""
    try:
        return max(1, int(text or "1"))
    except ValueError:
        return 1


def controls_summary(controls: Controls) -> str:
    c = controls
    parts = [
        f"overlap {c.overlap}",
        f"{c.max_attempts} attempt(s)",
        f"timeout {format_duration(c.timeout)}",
    ]
    if c.max_rate is not None:
        parts.append(f"max rate {c.max_rate:g}/s")
    if c.max_concurrency is not None:
        parts.append(f"max concurrency {c.max_concurrency}")
    if c.min_interval is not None:
        parts.append(f"min interval {format_duration(c.min_interval)}")
    if c.max_lateness is not None:
        parts.append(f"max lateness {format_duration(c.max_lateness)}")
    if c.deadline is not None:
        parts.append(f"deadline {format_duration(c.deadline)}")
    return ", ".join(parts)


@dataclass(frozen=True)
class GroupRow:
    name: str
    manifest: GroupManifest | None  # None: its current version does not load
    latest: Run | None
    pause: Pause | None = None  # the pause in force now, if any
    next_slot: datetime | None = None  # its schedule's next slot, if it has a schedule


def group_rows(where: Backend, now: datetime | None = None) -> list[GroupRow]:
    moment = now or SystemClock().now()
    rows = []
    for name in sorted(where.registry.list_groups()):
        try:
            manifest: GroupManifest | None = where.registry.load_manifest(name)
        except NotFound:
            manifest = None
        head = where.registry.head(name)
        latest = where.ledger.latest_run(name)
        rows.append(
            GroupRow(
                name,
                manifest,
                None if latest is None else shown(latest),
                pause=None if head is None else head.paused_at(moment),
                next_slot=next_slot(manifest, moment),
            )
        )
    return rows


def next_slot(manifest: GroupManifest | None, now: datetime) -> datetime | None:
    """The next slot of the group's schedule after `now`; None without a schedule."""
    if manifest is None or manifest.schedule is None:
        return None
    return manifest.schedule.next_slot(now)


@dataclass(frozen=True)
class GroupPage:
    name: str
    manifest: GroupManifest | None
    runs: list[Run]  # this page's, newest first
    page: int
    has_next: bool
    chart: dict[str, Any]  # uPlot's columns: opened (epoch s), duration (s), failed
    versions: list[GroupManifest]  # newest first, those that load
    pause: Pause | None = None  # the pause in force now, if any
    next_slot: datetime | None = None  # its schedule's next slot, if it has a schedule


def group_page(where: Backend, name: str, page: int, now: datetime | None = None) -> GroupPage:
    """GroupNotFound for a name that is neither registered nor has runs in the ledger."""
    registered = NAME_PATTERN.fullmatch(name) is not None and name in where.registry.list_groups()
    wanted = max(page * PAGE_SIZE + 1, CHART_RUNS)
    newest = (
        [shown(run) for run in where.ledger.list_runs(name, wanted)]
        if NAME_PATTERN.fullmatch(name)
        else []
    )
    if not registered and not newest:
        raise GroupNotFound(f"no group {name!r} is registered or has runs")
    head = where.registry.head(name) if registered else None
    versions = _versions(where, name, head.version) if head is not None else []
    moment = now or SystemClock().now()
    return GroupPage(
        name=name,
        manifest=versions[0] if versions else None,
        next_slot=next_slot(versions[0] if versions else None, moment),
        runs=newest[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        page=page,
        has_next=len(newest) > page * PAGE_SIZE,
        chart=_durations(newest[:CHART_RUNS]),
        versions=versions,
        pause=None if head is None else head.paused_at(moment),
    )


def _versions(where: Backend, name: str, current: int) -> list[GroupManifest]:
    found = []
    for version in range(current, max(0, current - VERSIONS_SHOWN), -1):
        try:
            found.append(where.registry.load_manifest(name, version))
        except NotFound:
            continue  # a version deleted, or claimed and never finished
    return found


def _durations(runs: list[Run]) -> dict[str, Any]:
    """Oldest first: when each run opened, how long it took (None while it runs), and
    how many of its jobs failed or were lost."""
    ordered = sorted(runs, key=lambda run: run.opened_at)
    return {
        "opened": [run.opened_at.timestamp() for run in ordered],
        "seconds": [
            None
            if run.finished_at is None
            else round((run.finished_at - run.opened_at).total_seconds(), 3)
            for run in ordered
        ],
        "failed": [run.failed + run.lost for run in ordered],
    }
