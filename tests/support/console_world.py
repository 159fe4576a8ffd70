"""Ledgers and registries filled directly, for the console's tests and benchmark: a
group registered without a runtime, a finished run with as many results as asked for
(some failed), and a group with many runs. Nothing here runs a job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bridge.domain.chunks import make_chunks
from bridge.domain.controls import Controls, Overlap
from bridge.domain.groups import GroupManifest
from bridge.domain.results import JobRef, JobResult, JobStatus
from bridge.domain.runs import Run, RunState
from bridge.domain.schedules import Schedule
from bridge.domain.tally import Tally
from bridge.domain.triggers import format_time
from bridge.local.ledger import SqliteLedger
from bridge.local.registry import FileRegistry
from bridge.ports import SystemClock
from bridge.usecases.record import settle_run
from bridge.usecases.register import ListSource, register_group

__all__ = ["failing_every", "many_runs", "register", "run_with_results"]

ECHO = "python:publishers.examples:echo"


def register(
    registry: FileRegistry, group: str, lists: dict[str, int], schedule: Schedule | None = None
) -> GroupManifest:
    """Register `group` with lists of `lists[name]` jobs each, ids NAME-00000 on."""

    def lines(name: str, count: int) -> Callable[[], list[str]]:
        return lambda: [
            f'{{"id": "{name}-{i:05d}", "payload": {{"n": {i}}}}}' for i in range(count)
        ]

    return register_group(
        group,
        ECHO,
        [ListSource(name, lines(name, count)) for name, count in lists.items()],
        Controls(overlap=Overlap.ALLOW),
        registry=registry,
        clock=SystemClock(),
        check_target=lambda target, controls: None,
        schedule=schedule,
    )


def failing_every(n: int, error: str = "RuntimeError: boom\nTraceback ...") -> Callable[[int], str]:
    """Job i fails with `error` when i % n == 0, else succeeds (an empty error)."""
    return lambda i: error if i % n == 0 else ""


def run_with_results(
    ledger: SqliteLedger,
    manifest: GroupManifest,
    run_id: str,
    error_of: Callable[[int], str],
    *,
    previous: str | None = None,
    spread: float = 60.0,
) -> Run:
    """A run of every job of `manifest`, recorded and ended: job i fails with
    `error_of(i)` unless that is empty; results finish over `spread` seconds."""
    total = manifest.total_jobs
    opened = datetime.now(UTC) - timedelta(seconds=spread + 5)
    run = Run(run_id, manifest.group, manifest.version, RunState.RUNNING, total, opened, opened)
    ledger.open_run(run, previous=previous, cancel=None)
    slot = format_time(opened)
    batch: list[JobResult] = []
    index = 0
    for job_list in manifest.lists:
        for position in range(job_list.jobs):
            error = error_of(index)
            ref = JobRef(
                run_id,
                manifest.group,
                job_list.name,
                f"{job_list.name}-{position:05d}",
                slot,
                1,
                part=position // 1000,
            )
            at = opened + timedelta(seconds=spread * index / max(1, total))
            status = JobStatus.FAILED if error else JobStatus.SUCCEEDED
            output = None if error else '"ok"'
            batch.append(JobResult(ref, status, 1, at, error, 12.0, output))
            index += 1
            if len(batch) == 1000:
                ledger.append_results(run_id, make_chunks(batch))
                batch = []
    if batch:
        ledger.append_results(run_id, make_chunks(batch))
    settle_run(run_id, ledger=ledger, force=True)
    ended = ledger.get_run(run_id)
    assert ended is not None and ended.state.finished, ended
    return ended


def many_runs(ledger: SqliteLedger, manifest: GroupManifest, count: int) -> list[str]:
    """`count` ended runs of `manifest`'s group (no results stored), oldest first; every
    seventh failed with 2 failed jobs. Their ids."""
    start = datetime.now(UTC) - timedelta(hours=count)
    previous: str | None = None
    ids = []
    for i in range(count):
        opened = start + timedelta(hours=i)
        run_id = f"{manifest.group}.m-{i:016x}"
        run = Run(run_id, manifest.group, manifest.version, RunState.RUNNING, 10, opened, opened)
        ledger.open_run(run, previous=previous, cancel=None)
        failed = 2 if i % 7 == 0 else 0
        state = RunState.FAILED if failed else RunState.SUCCEEDED
        counts = Tally(total=10, succeeded=10 - failed, failed=failed, lost=0, finished_at=None)
        ledger.finish_run(run_id, 1, state, counts, opened + timedelta(seconds=30 + i % 50))
        previous = run_id
        ids.append(run_id)
    return ids
