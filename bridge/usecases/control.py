"""`runs cancel` and `runs resume`: a person's hand on a run, on both backends.

Cancelling records the run as cancelled; its publishers look at the run's state before
each batch they hand over, so no job of it is dispatched after the cancel beyond the
batch in flight. Resuming a cancelled run, or a running one that seems stuck, sends
every job without a result now, without waiting for the run's deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.domain.deadlines import Timing, run_deadline
from bridge.domain.runs import Run, RunState
from bridge.domain.tally import standing_results, tally
from bridge.exceptions import Conflict, InvalidInput, RunNotFound
from bridge.ports import Clock, Ledger, Progress, PublisherInvoker, Registry
from bridge.usecases.dispatch import launch_run
from bridge.usecases.record import settle_run
from bridge.usecases.resend import missing_jobs, resend_missing, resend_tag

__all__ = ["ResumeOutcome", "cancel_run", "resume_run"]


def cancel_run(run_id: str, *, ledger: Ledger, clock: Clock, reason: str = "") -> Run:
    """The cancelled run; RunNotFound, or InvalidInput if it is not running."""
    run = _get(ledger, run_id)
    if run.state is not RunState.RUNNING:
        raise InvalidInput(f"run {run_id} is {run.state}; only a running run can be cancelled")
    if not ledger.cancel_run(run_id, reason or "cancelled by hand", clock.now()):
        raise Conflict(f"run {run_id} changed meanwhile; see `cronbridge runs show {run_id}`")
    return _get(ledger, run_id)


@dataclass(frozen=True)
class ResumeOutcome:
    run: Run
    how: str  # "launched" | "resent" | "finished"
    jobs: int = 0


def resume_run(
    run_id: str,
    *,
    registry: Registry,
    ledger: Ledger,
    publishers: PublisherInvoker,
    clock: Clock,
    timing: Timing,
) -> ResumeOutcome:
    """Give a running or cancelled run what it lacks: its publishers if they never
    started, else every job without a result, sent now. RunNotFound; InvalidInput for
    a run that has ended (a failed one is redriven instead)."""
    run = _get(ledger, run_id)
    if run.state not in (RunState.RUNNING, RunState.CANCELLED):
        hint = f"`cronbridge runs redrive {run_id}`" if run.state is RunState.FAILED else None
        raise InvalidInput(
            f"run {run_id} is {run.state}; only a running or cancelled run can be resumed",
            hint=f"send its failed jobs again with {hint}" if hint else None,
        )
    manifest = registry.load_manifest(run.group, run.version)
    now = clock.now()
    standing = standing_results(ledger.stored_results(run))
    counts = tally(standing, total=run.total, attempt=run.attempt)
    if run.state is RunState.CANCELLED:
        reopened = ledger.reopen_run(
            run_id,
            expected=RunState.CANCELLED,
            attempt=run.attempt,
            deadline=run_deadline(now, manifest.controls, counts.missing, timing),
            progress=Progress(
                dispatched=run.dispatched,
                succeeded=counts.succeeded,
                failed=counts.failed,
                lost=counts.lost,
                checked=counts.settled,
                missing=counts.missing,
            ),
        )
        if not reopened:
            raise Conflict(f"run {run_id} changed meanwhile; try again")
        run = _get(ledger, run_id)
    if run.launched < run.attempt:
        launch_run(run, registry, ledger, publishers)
        return ResumeOutcome(_get(ledger, run_id), "launched", counts.missing)
    if counts.complete:
        settle_run(run_id, ledger=ledger, force=True)
        return ResumeOutcome(_get(ledger, run_id), "finished")
    sets = missing_jobs(run, manifest, standing, registry, need_ids=False)
    resend_missing(run, manifest, sets, resend_tag(now), ledger=ledger, publishers=publishers)
    return ResumeOutcome(_get(ledger, run_id), "resent", counts.missing)


def _get(ledger: Ledger, run_id: str) -> Run:
    run = ledger.get_run(run_id)
    if run is None:
        raise RunNotFound(f"run {run_id!r} is not in the ledger", hint="see `cronbridge runs list`")
    return run
