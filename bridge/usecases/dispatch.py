"""The dispatcher: a trigger in, at most one run opened, one publisher per job list out."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.domain.deadlines import Timing, run_deadline
from bridge.domain.groups import not_registered
from bridge.domain.plan import REDRIVE, root_units
from bridge.domain.runs import Run, RunState, decide_trigger, skipped_run
from bridge.domain.triggers import TriggerEvent, derive_run_id, format_time, parse_trigger
from bridge.exceptions import Conflict
from bridge.ports import Clock, Ledger, PublisherInvoker, Registry

__all__ = ["TriggerOutcome", "handle_trigger", "launch_run"]

_HEAD_RACE_TRIES = 8


@dataclass(frozen=True)
class TriggerOutcome:
    decision: str  # "opened" | "duplicate" | "skipped"
    run_id: str
    group: str
    reason: str = ""
    publishers: int = 0
    cancelled: str | None = None


def handle_trigger(
    event: TriggerEvent,
    *,
    registry: Registry,
    ledger: Ledger,
    publishers: PublisherInvoker,
    clock: Clock,
    timing: Timing,
) -> TriggerOutcome:
    """Raises InvalidTrigger or GroupNotFound before writing anything."""
    trigger = parse_trigger(event)
    head = registry.head(trigger.group)  # one read: the current version and the pause
    if head is None:
        raise not_registered(trigger.group)
    manifest = registry.load_manifest(trigger.group, head.version)
    run_id = derive_run_id(trigger)
    for _ in range(_HEAD_RACE_TRIES):
        existing = ledger.get_run(run_id)
        if existing is not None:
            return _resume_duplicate(existing, registry, ledger, publishers)
        previous = ledger.latest_run(trigger.group)
        now = clock.now()
        decision = decide_trigger(trigger, manifest.controls, previous, now, head.pause)
        run = Run(
            run_id=run_id,
            group=trigger.group,
            version=manifest.version,
            state=RunState.RUNNING,
            total=manifest.total_jobs,
            slot_time=trigger.slot_time,
            opened_at=now,
            source=trigger.body.source,
            note=trigger.body.note,
            scheduled=trigger.body.scheduled_time is not None,
            deadline=run_deadline(now, manifest.controls, manifest.total_jobs, timing),
            # Kept with the run, so its end needs no read of the manifest (the recorder
            # and the worker helper cannot read the registry).
            tolerance=manifest.controls.tolerated_failures,
        )
        if not decision.open:
            if ledger.record_skip(skipped_run(run, decision.reason)) == "duplicate":
                continue
            return TriggerOutcome("skipped", run_id, trigger.group, reason=decision.reason)
        try:
            outcome = ledger.open_run(
                run, previous=previous.run_id if previous else None, cancel=decision.cancel
            )
        except Conflict:
            continue  # another trigger of this group got in first: decide again
        if outcome == "duplicate":
            continue
        count = launch_run(run, registry, ledger, publishers)
        return TriggerOutcome(
            "opened", run_id, trigger.group, publishers=count, cancelled=decision.cancel
        )
    raise Conflict(f"too many simultaneous triggers for group {trigger.group!r}; try again")


def launch_run(run: Run, registry: Registry, ledger: Ledger, publishers: PublisherInvoker) -> int:
    """Start one publisher per job list of the run's pinned version, then remember it.

    A redrive's publishers (attempt 2 and up) send only the jobs its send sets name.
    """
    manifest = registry.load_manifest(run.group, run.version)
    only = "" if run.attempt == 1 else REDRIVE
    units = root_units(
        run.run_id, manifest, format_time(run.slot_time), attempt=run.attempt, only=only
    )
    publishers.invoke_publishers(units)
    ledger.mark_launched(run.run_id, run.attempt)
    return len(units)


def _resume_duplicate(
    run: Run, registry: Registry, ledger: Ledger, publishers: PublisherInvoker
) -> TriggerOutcome:
    # A dispatcher that died between opening the run and launching its publishers is
    # retried with the same event: this is where that run gets its publishers after all.
    if run.state is RunState.RUNNING and run.launched < run.attempt:
        count = launch_run(run, registry, ledger, publishers)
        return TriggerOutcome(
            "duplicate", run.run_id, run.group, reason="resumed", publishers=count
        )
    return TriggerOutcome("duplicate", run.run_id, run.group, reason="run exists")
