"""Redrive: send a finished run's failed and lost jobs again, and nothing else: a failed
run's, or those a succeeded run's tolerated_failures let through."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from bridge.domain.deadlines import Timing, run_deadline
from bridge.domain.groups import GroupManifest
from bridge.domain.plan import REDRIVE
from bridge.domain.results import JobResult, JobStatus
from bridge.domain.runs import Run, RunState
from bridge.domain.tally import standing_results
from bridge.exceptions import Conflict, InvalidInput, RunNotFound
from bridge.ports import Clock, Ledger, Progress, PublisherInvoker, Registry, SendSet
from bridge.usecases.dispatch import launch_run

__all__ = ["RedriveOutcome", "redrive_run"]


@dataclass(frozen=True)
class RedriveOutcome:
    run: Run
    jobs: int
    publishers: int


def redrive_run(
    run_id: str,
    *,
    registry: Registry,
    ledger: Ledger,
    publishers: PublisherInvoker,
    clock: Clock,
    timing: Timing,
) -> RedriveOutcome:
    """RunNotFound, or InvalidInput unless the run failed, or succeeded with failed or
    lost jobs its group's tolerated_failures let through.

    In an order that a redrive cut short can resume from by asking again: the send sets
    of the new attempt first (which jobs its publishers send), then the run back to
    running at that attempt, then its publishers, then the mark that they started.
    """
    run = ledger.get_run(run_id)
    if run is None:
        raise RunNotFound(
            f"run {run_id!r} is not in the ledger", hint="see `cronbridge runs list GROUP`"
        )
    manifest = registry.load_manifest(run.group, run.version)
    resuming = run.state is RunState.RUNNING and run.attempt > 1 and run.launched < run.attempt
    if resuming:
        redo = _unsucceeded(ledger, run, attempt_below=run.attempt)
    else:
        if not run.redrivable:
            raise InvalidInput(
                f"run {run_id} is {run.state_label}; only a failed run can be redriven, or one"
                " that succeeded with tolerated failures",
                hint=_not_redrivable_hint(run),
            )
        redo = _unsucceeded(ledger, run, attempt_below=run.attempt + 1)
        if not redo:
            raise InvalidInput(
                f"run {run_id} has no failed or lost job in the ledger to send again",
                hint="a run recorded by a version before result chunks cannot be redriven",
            )
        attempt = run.attempt + 1
        ledger.put_send_sets(run_id, attempt, REDRIVE, _send_sets(redo, manifest))
        succeeded = run.total - len(redo)
        reopened = ledger.reopen_run(
            run_id,
            expected=run.state,
            attempt=attempt,
            deadline=run_deadline(clock.now(), manifest.controls, len(redo), timing),
            progress=Progress(
                dispatched=run.dispatched,
                succeeded=succeeded,
                checked=succeeded,
                missing=len(redo),
            ),
        )
        if not reopened:
            raise Conflict(f"run {run_id} changed meanwhile; try again")
        updated = ledger.get_run(run_id)
        assert updated is not None
        run = updated
    count = launch_run(run, registry, ledger, publishers)
    return RedriveOutcome(run=run, jobs=len(redo), publishers=count)


def _not_redrivable_hint(run: Run) -> str | None:
    if run.state is RunState.RUNNING:
        return "wait for it to finish"
    if run.state is RunState.SUCCEEDED:
        return "every job of it succeeded: there is nothing to send again"
    return None


def _unsucceeded(ledger: Ledger, run: Run, *, attempt_below: int) -> list[JobResult]:
    """The jobs a redrive sends: those whose standing result failed or was lost."""
    standing = standing_results(ledger.stored_results(run))
    return [
        r
        for r in standing.values()
        if r.status is not JobStatus.SUCCEEDED and r.ref.attempt < attempt_below
    ]


def _send_sets(redo: list[JobResult], manifest: GroupManifest) -> dict[tuple[str, int], SendSet]:
    placed: dict[tuple[str, int], set[str]] = defaultdict(set)
    unplaced: dict[str, set[str]] = defaultdict(set)
    for result in redo:
        ref = result.ref
        if ref.part >= 0:
            placed[(ref.list_name, ref.part)].add(ref.job_id)
        else:
            unplaced[ref.list_name].add(ref.job_id)
    # A result that does not say its part (an older envelope) is looked for in every part.
    for list_name, ids in unplaced.items():
        for part in range(len(manifest.job_list(list_name).parts)):
            placed[(list_name, part)] |= ids
    return {key: SendSet(frozenset(ids)) for key, ids in placed.items()}
