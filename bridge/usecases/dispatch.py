"""The dispatcher: a trigger in, at most one run opened, one publisher per job list out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bridge.domain.deadlines import Timing, run_deadline
from bridge.domain.durations import describe_span, format_duration
from bridge.domain.events import EventKind, RunEvent
from bridge.domain.groups import GroupManifest, not_registered
from bridge.domain.plan import REDRIVE, root_units
from bridge.domain.runs import LATE_PREFIX, Run, RunState, decide_trigger, skipped_run
from bridge.domain.triggers import (
    Trigger,
    TriggerEvent,
    derive_run_id,
    format_time,
    parse_trigger,
)
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
    """Raises InvalidTrigger or GroupNotFound before writing anything.

    A trigger for a slot recorded `missed` opens it after all, late (or is turned away,
    by max_lateness say): the run takes the missed record's place, once.
    """
    trigger = parse_trigger(event)
    head = registry.head(trigger.group)  # one read: the current version and the pause
    if head is None:
        raise not_registered(trigger.group)
    manifest = registry.load_manifest(trigger.group, head.version)
    run_id = derive_run_id(trigger)
    for _ in range(_HEAD_RACE_TRIES):
        existing = ledger.get_run(run_id)
        if existing is not None and existing.state is not RunState.MISSED:
            return _resume_duplicate(existing, registry, ledger, publishers)
        over_missed = existing is not None
        previous = ledger.latest_run(trigger.group)
        now = clock.now()
        decision = decide_trigger(trigger, manifest.controls, previous, now, head.pause)
        late = lateness(trigger, manifest, now)
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
            reason=late or "",
        )
        late_event = (
            RunEvent(EventKind.LATE, run_id, trigger.group, 1, now, detail=late) if late else None
        )
        if not decision.open:
            skipped = skipped_run(run, decision.reason)
            if ledger.record_skip(skipped, over_missed=over_missed) == "duplicate":
                continue
            if late_event is not None:
                ledger.note_event(late_event)
            return TriggerOutcome("skipped", run_id, trigger.group, reason=decision.reason)
        try:
            outcome = ledger.open_run(
                run,
                previous=previous.run_id if previous else None,
                cancel=decision.cancel,
                over_missed=over_missed,
                events=[late_event] if late_event else [],
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


def lateness(trigger: Trigger, manifest: GroupManifest, now: datetime) -> str | None:
    """Why a scheduled group's trigger counts as late ("late: ... after its slot"), or
    None: it came within the schedule's slot tolerance, the group has no schedule, the
    trigger names no slot, or a backfill fired it (late on purpose)."""
    schedule = manifest.schedule
    if schedule is None or trigger.body.scheduled_time is None or trigger.backfill:
        return None
    behind = (now - trigger.slot_time).total_seconds()
    if behind <= schedule.slot_tolerance:
        return None
    return (
        f"{LATE_PREFIX} {describe_span(behind)} after its slot"
        f" (slot_tolerance {format_duration(schedule.slot_tolerance)})"
    )


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
