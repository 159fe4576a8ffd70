"""Runs: the trigger decision, the state machine and the completion rule (DESIGN.md §3.3, §4)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bridge.domain.controls import Controls, Overlap
from bridge.domain.durations import format_duration
from bridge.domain.pause import PAUSED, Pause
from bridge.domain.tolerance import NO_TOLERANCE, Tolerance
from bridge.domain.triggers import Trigger, format_time

__all__ = [
    "LATE_PREFIX",
    "Decision",
    "Progress",
    "Run",
    "RunState",
    "check_transition",
    "decide_trigger",
    "final_state",
    "skipped_run",
]


#: how the reason of a run opened after its slot tolerance begins
LATE_PREFIX = "late: triggered"


class RunState(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"  # by hand, or replaced by a newer run (overlap=replace)
    SKIPPED = "skipped"  # a trigger the controls turned away; recorded, never ran
    MISSED = "missed"  # a slot of the group's schedule no trigger came for (in time)

    @property
    def finished(self) -> bool:
        return self is not RunState.RUNNING

    @property
    def never_ran(self) -> bool:
        """Skipped or missed: no job of it was ever sent, it has no results."""
        return self in (RunState.SKIPPED, RunState.MISSED)


# A failed run goes back to running when its failed jobs are redriven (so does a run
# that succeeded with tolerated failures), a cancelled one when it is resumed.
_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.RUNNING: frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED}),
    RunState.FAILED: frozenset({RunState.RUNNING}),
    RunState.SUCCEEDED: frozenset({RunState.RUNNING}),
    RunState.CANCELLED: frozenset({RunState.RUNNING}),
    RunState.SKIPPED: frozenset(),
    # A trigger that comes for a missed slot after all opens it late, or is turned away.
    RunState.MISSED: frozenset({RunState.RUNNING, RunState.SKIPPED}),
}


def check_transition(current: RunState, new: RunState) -> None:
    if new not in _TRANSITIONS[current]:
        raise ValueError(f"a {current} run cannot become {new}")


@dataclass(frozen=True)
class Run:
    run_id: str
    group: str
    version: int
    state: RunState
    total: int
    slot_time: datetime  # scheduled time, or arrival time of a manual trigger
    opened_at: datetime
    source: str = "manual"
    note: str = ""
    scheduled: bool = False
    reason: str = ""  # why a run was skipped or cancelled
    dispatched: int = 0
    succeeded: int = 0  # while running, counters may run ahead of the exact count
    failed: int = 0
    lost: int = 0
    attempt: int = 1  # 1, then +1 per redrive
    launched: int = 0  # the last attempt whose publishers were started
    deadline: datetime | None = None  # see bridge.domain.deadlines
    resent: int = 0  # the last attempt whose jobs without a result were sent once more
    finished_at: datetime | None = None
    #: its group's tolerated_failures when it opened (from the version it pins)
    tolerance: Tolerance = NO_TOLERANCE

    @property
    def done(self) -> int:
        return min(self.total, self.succeeded + self.failed + self.lost)

    @property
    def redrivable(self) -> bool:
        """Failed, or succeeded with failed or lost jobs its tolerance let through."""
        return self.state is RunState.FAILED or (
            self.state is RunState.SUCCEEDED and self.failed + self.lost > 0
        )

    @property
    def late(self) -> bool:
        """Opened for a slot after its slot tolerance (bridge.usecases.dispatch.lateness)."""
        return self.reason.startswith(LATE_PREFIX) and not self.state.never_ran

    @property
    def state_label(self) -> str:
        """Its state as a person reads it: a succeeded run names the failures it tolerated,
        e.g. "succeeded (3 failed, 1 lost, tolerated)"; a late run says so."""
        notes = ["late"] if self.late else []
        if self.state is RunState.SUCCEEDED and self.failed + self.lost:
            notes = [
                f"{n:,} {what}" for n, what in ((self.failed, "failed"), (self.lost, "lost")) if n
            ]
            notes += ["tolerated", "late"] if self.late else ["tolerated"]
        return f"{self.state} ({', '.join(notes)})" if notes else self.state.value

    def with_progress(self, progress: Progress) -> Run:
        """A run as shown: dispatched from its progress, and while it is not final,
        its approximate counters too (a finished run keeps its exact counts)."""
        if self.state not in (RunState.RUNNING, RunState.CANCELLED):
            return replace(self, dispatched=progress.dispatched)
        return replace(
            self,
            dispatched=progress.dispatched,
            succeeded=progress.succeeded,
            failed=progress.failed,
            lost=progress.lost,
        )

    def overdue(self, now: datetime) -> bool:
        """Past the deadline the sweep acts on: resend, then record as lost."""
        return self.state is RunState.RUNNING and self.deadline is not None and now >= self.deadline

    def holds_group(self, now: datetime) -> bool:
        """Whether it still counts as running for its group's overlap control: until its
        first deadline, not while its lost jobs are being sent once more."""
        return (
            self.state is RunState.RUNNING and not self.overdue(now) and self.resent < self.attempt
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "group": self.group,
            "version": self.version,
            "state": self.state.value,
            "reason": self.reason,
            "total": self.total,
            "dispatched": self.dispatched,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "lost": self.lost,
            "attempt": self.attempt,
            "tolerated_failures": str(self.tolerance),
            "launched": self.launched,
            "deadline": format_time(self.deadline) if self.deadline else None,
            "source": self.source,
            "note": self.note,
            "scheduled_time": format_time(self.slot_time) if self.scheduled else None,
            "slot_time": format_time(self.slot_time),
            "opened_at": format_time(self.opened_at),
            "finished_at": format_time(self.finished_at) if self.finished_at else None,
        }


@dataclass(frozen=True)
class Progress:
    """A running run's counters: they may run ahead of the exact count while it goes
    (a result that arrived twice in different batches counts twice), never behind.
    `checked` and `missing` are the last exact recount: the counters at its start and
    how many jobs it found unsettled, so a recount is due again only once at least
    `missing` more results have been counted."""

    dispatched: int = 0
    succeeded: int = 0
    failed: int = 0
    lost: int = 0
    checked: int = 0
    missing: int = 0  # a run opens with missing = total: due when the counters reach it

    @property
    def counted(self) -> int:
        return self.succeeded + self.failed + self.lost

    @property
    def recount_due(self) -> bool:
        return self.counted - self.checked >= self.missing


@dataclass(frozen=True)
class Decision:
    """What a valid trigger leads to. `cancel` names a run that the new one replaces."""

    open: bool
    reason: str = ""
    cancel: str | None = None


def decide_trigger(
    trigger: Trigger,
    controls: Controls,
    previous: Run | None,
    now: datetime,
    pause: Pause | None = None,
) -> Decision:
    """Apply the group's pause, max_lateness, min_interval and overlap to a trigger, given
    the group's last run. A pause is asked about the trigger's arrival (`now`): once its
    `until` has passed, it turns nothing away. max_lateness does not apply to a backfill's
    triggers (they are late on purpose)."""
    if pause is not None and pause.covers(now):
        return Decision(open=False, reason=PAUSED)
    slot = trigger.slot_time
    if (
        controls.max_lateness is not None
        and trigger.body.scheduled_time is not None
        and not trigger.backfill
    ):
        late = (now - slot).total_seconds()
        if late > controls.max_lateness:
            return Decision(
                open=False,
                reason=f"late: scheduled {format_duration(round(late, 3))} ago, "
                f"max_lateness is {format_duration(controls.max_lateness)}",
            )
    if previous is None:
        return Decision(open=True)
    if controls.min_interval is not None:
        gap = abs((slot - previous.slot_time).total_seconds())
        if gap < controls.min_interval:
            return Decision(
                open=False,
                reason=f"min_interval: {format_duration(round(gap, 3))} after run "
                f"{previous.run_id}, min_interval is {format_duration(controls.min_interval)}",
            )
    if previous.state is RunState.RUNNING:
        if not previous.holds_group(now) and controls.overlap is not Overlap.REPLACE:
            # A run past its deadline never silences its group: its sweep ends it.
            return Decision(open=True)
        if controls.overlap is Overlap.SKIP:
            return Decision(open=False, reason=f"overlap: run {previous.run_id} is still running")
        if controls.overlap is Overlap.REPLACE:
            return Decision(open=True, cancel=previous.run_id)
    return Decision(open=True)


def final_state(
    total: int, succeeded: int, failed: int, lost: int = 0, tolerance: Tolerance = NO_TOLERANCE
) -> RunState | None:
    """The state a running run ends in once every job has a result; None while some lack one.

    Failed once its failed and lost jobs are more than its tolerance; equal still succeeds."""
    if succeeded + failed + lost < total:
        return None
    return RunState.SUCCEEDED if tolerance.allows(failed + lost, total) else RunState.FAILED


def skipped_run(run: Run, reason: str) -> Run:
    return replace(run, state=RunState.SKIPPED, reason=reason, finished_at=run.opened_at)
