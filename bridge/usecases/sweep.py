"""Every run ends (DESIGN.md §3.3): the sweep that acts on runs past their deadline.

On AWS a schedule invokes the sweeper function every minute; locally `cronbridge serve`
sweeps every few seconds. For each running run past its deadline:

1. a run whose publishers never started (its dispatcher died between opening and
   launching it) is launched, with a new deadline;
2. a run whose results are all in, but not yet counted as such, ends;
3. otherwise its jobs without a result are sent once more, with a new deadline, and
   the run is reported `stuck` (an alert event);
4. past that second deadline, the jobs that still have no result are recorded as
   `lost` (a final status: `runs redrive` sends them again) and the run ends,
   reported `lost` (and `failed` if they are more than it tolerates).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bridge.domain.deadlines import Timing, run_deadline
from bridge.domain.events import EventKind, RunEvent
from bridge.domain.plan import DEADLINE_RESEND
from bridge.domain.results import JobRef, JobResult, JobStatus
from bridge.domain.runs import Run, RunState
from bridge.domain.tally import standing_results, tally
from bridge.domain.triggers import format_time
from bridge.exceptions import GroupNotFound, Unavailable
from bridge.ports import Clock, Ledger, PublisherInvoker, Registry
from bridge.usecases.dispatch import launch_run
from bridge.usecases.record import record_results, settle_run
from bridge.usecases.resend import missing_jobs, resend_missing

__all__ = ["LOST_ERROR", "SweepAction", "sweep_run", "sweep_runs"]

log = logging.getLogger("cronbridge.sweep")

LOST_ERROR = (
    "lost: no result came by the run's deadline, nor after the job was sent once more "
    "(a destination record Lambda could not deliver, or an event in a dead-letter queue)"
)


@dataclass(frozen=True)
class SweepAction:
    run_id: str
    action: str  # "launched" | "finished" | "resent" | "lost" | "cancelled"
    jobs: int = 0


def sweep_runs(
    *,
    registry: Registry,
    ledger: Ledger,
    publishers: PublisherInvoker,
    clock: Clock,
    timing: Timing,
) -> list[SweepAction]:
    """Act on every running run past its deadline; what was done."""
    now = clock.now()
    actions = []
    for run in ledger.open_runs():
        if not run.overdue(now):
            continue
        action = sweep_run(
            run, registry=registry, ledger=ledger, publishers=publishers, now=now, timing=timing
        )
        log.info(
            "overdue run " + action.action,
            extra={"run": run.run_id, "group": run.group, "jobs": action.jobs},
        )
        actions.append(action)
    return actions


def sweep_run(
    run: Run,
    *,
    registry: Registry,
    ledger: Ledger,
    publishers: PublisherInvoker,
    now: datetime,
    timing: Timing,
) -> SweepAction:
    try:
        manifest = registry.load_manifest(run.group, run.version)
    except GroupNotFound:
        # The group's version is gone (the group was deleted): nothing can be sent.
        ledger.cancel_run(run.run_id, "its group version was deleted", now)
        return SweepAction(run.run_id, "cancelled")
    if run.launched < run.attempt:
        launch_run(run, registry, ledger, publishers)
        deadline = run_deadline(now, manifest.controls, run.total, timing)
        ledger.set_deadline(run.run_id, run.attempt, deadline, run.resent)
        return SweepAction(run.run_id, "launched", run.total)
    standing = standing_results(ledger.stored_results(run))
    counts = tally(standing, total=run.total, attempt=run.attempt)
    if counts.complete:
        settle_run(run.run_id, ledger=ledger, force=True)
        return SweepAction(run.run_id, "finished")
    final_round = run.resent >= run.attempt
    sets = missing_jobs(run, manifest, standing, registry, need_ids=final_round)
    if not final_round:
        resend_missing(run, manifest, sets, DEADLINE_RESEND, ledger=ledger, publishers=publishers)
        deadline = run_deadline(now, manifest.controls, counts.missing, timing)
        if ledger.set_deadline(run.run_id, run.attempt, deadline, run.attempt):
            detail = (
                f"{counts.missing:,} of {run.total:,} jobs had no result by the run's deadline;"
                f" sent once more, the run waits until {format_time(deadline)}"
            )
            ledger.note_event(
                RunEvent(EventKind.STUCK, run.run_id, run.group, run.attempt, now, detail)
            )
        return SweepAction(run.run_id, "resent", counts.missing)
    lost = [
        JobResult(
            ref=JobRef(
                run.run_id,
                run.group,
                list_name,
                job_id,
                format_time(run.slot_time),
                run.attempt,
                part,
            ),
            status=JobStatus.LOST,
            tries=0,
            finished_at=now,
            error=LOST_ERROR,
        )
        for (list_name, part), send in sorted(sets.items())
        for job_id in sorted(send.jobs or ())
    ]
    if record_results(lost, ledger=ledger).failed_runs:
        raise Unavailable(
            f"could not record the lost jobs of run {run.run_id}; the next sweep tries again"
        )
    if not settle_run(run.run_id, ledger=ledger, force=True):
        current = ledger.get_run(run.run_id)
        if current is not None and current.state is RunState.RUNNING:
            log.warning("an overdue run did not end", extra={"run": run.run_id})
    return SweepAction(run.run_id, "lost", len(lost))
