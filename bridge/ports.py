"""The small interfaces every outside system sits behind (DESIGN.md §2).

Two adapter families implement them: local (files, SQLite, threads) in
`bridge.local`, and AWS (S3, DynamoDB, Lambda). Use cases see only these.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from bridge.domain.groups import GroupManifest, Job
from bridge.domain.plan import PublisherUnit
from bridge.domain.results import JobResult
from bridge.domain.runs import Run

__all__ = [
    "Clock",
    "JobSink",
    "Ledger",
    "OpenOutcome",
    "PublisherInvoker",
    "Registry",
    "SinkFactory",
    "SystemClock",
]


class Clock(Protocol):
    def now(self) -> datetime: ...
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class Registry(Protocol):
    """Versioned group definitions, laid out as the state bucket (DESIGN.md §3.2)."""

    def current_version(self, group: str) -> int | None: ...
    def load_manifest(self, group: str, version: int | None = None) -> GroupManifest:
        """The manifest of `version` (default: current); GroupNotFound if there is none."""
        ...

    def write_part(
        self, group: str, version: int, list_name: str, part: int, jobs: Sequence[Job]
    ) -> None: ...
    def read_part(self, group: str, version: int, list_name: str, part: int) -> Iterator[Job]: ...
    def create_manifest(self, manifest: GroupManifest) -> None:
        """Write a new version's manifest; Conflict if that version already exists."""
        ...

    def set_current(self, group: str, version: int, expected: int | None) -> None:
        """Point `current` at `version` if it still points at `expected`; else Conflict."""
        ...

    def list_groups(self) -> list[str]: ...
    def delete_group(self, group: str) -> None: ...


OpenOutcome = str  # "opened" | "duplicate"; Conflict is raised when the group's head moved


class Ledger(Protocol):
    """Runs, part markers and per-job results (DESIGN.md §3.5)."""

    def get_run(self, run_id: str) -> Run | None: ...
    def latest_run(self, group: str) -> Run | None:
        """The group's last opened run (the one overlap and min_interval look at)."""
        ...

    def open_run(self, run: Run, *, previous: str | None, cancel: str | None) -> OpenOutcome:
        """Insert a running run and make it the group's latest, all or nothing.

        "duplicate" if the run id exists; Conflict if the group's latest run is no
        longer `previous`. `cancel` names a running run the new one replaces.
        """
        ...

    def record_skip(self, run: Run) -> OpenOutcome: ...
    def mark_launched(self, run_id: str, attempt: int) -> None: ...
    def part_dispatched(self, run_id: str, list_name: str, part: int, attempt: int) -> bool: ...
    def mark_part_dispatched(
        self, run_id: str, list_name: str, part: int, attempt: int, jobs: int
    ) -> bool:
        """Remember that a part's jobs were all handed over; True the first time only."""
        ...

    def record_result(self, result: JobResult) -> bool:
        """Store a job's result and count it, once per (run, job, attempt); True if it counted."""
        ...

    def begin_redrive(self, run_id: str) -> tuple[Run, dict[str, int]]:
        """Mark a failed run's failed jobs for a new attempt: the run, and jobs per list.

        A run whose last redrive never launched (running, `attempt > 1`,
        `launched < attempt`) is resumed: any failed job still unmarked is marked,
        and the same attempt is returned. RunNotFound for an unknown run; InvalidInput for any other state.
        """
        ...

    def redrive_jobs(self, run_id: str, list_name: str, attempt: int) -> set[str]: ...
    def finished_jobs(self, run_id: str, list_name: str) -> set[str]:
        """Ids of the list's jobs that have a final result (succeeded or failed)."""
        ...

    def list_runs(self, group: str | None, limit: int) -> list[Run]: ...
    def job_results(self, run_id: str, status: str | None, limit: int) -> list[JobResult]: ...


class PublisherInvoker(Protocol):
    """Starts publisher units asynchronously (async Lambda invoke, or a local thread)."""

    def invoke_publishers(self, units: Sequence[PublisherUnit]) -> None: ...


class JobSink(Protocol):
    """Hands worker envelopes to a group's target; returns once every one is accepted."""

    def send(self, envelopes: Sequence[dict[str, Any]]) -> None: ...


SinkFactory = Callable[[GroupManifest], JobSink]
