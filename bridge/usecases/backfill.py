"""`cronbridge backfill`: fire the slots of a group's schedule that an outage swallowed.

Plan, then execute. `plan_backfill` reads the group's schedule and, for each slot of the
window, its run (one `get_run` by the slot's derived run id, DESIGN.md §3.3: never a
scan of the group's runs); the plan is a value a dry run prints. `run_backfill` fires
the plan's slots oldest first through an injected sender (the same PUT `cronbridge
trigger --scheduled-time` sends), so the dispatcher decides as for any trigger, and a
slot that got a run meanwhile answers `duplicate`: a second run for it cannot open.

The window is [start, end]: both ends inclusive, so `--from 03:00 --to 05:00` of an
hourly schedule is 03:00, 04:00 and 05:00.

Overlap: with `skip` (or `replace`) a slot fired while the group's last run is still
running would be skipped (or would cancel that run), so before each slot the backfill
waits, through an injected waiter, until the group's latest run has ended, whether a
slot before it opened that run or a trigger from elsewhere did. With `allow` it fires
without waiting.

A slot counts as "no run" when the ledger has no run for it, or only a `missed` one
(the record a slot gets when no trigger came in time, issue 13 item 2): firing it then
opens it late. Until RunState has MISSED, that check simply never matches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice
from typing import Protocol

from bridge.domain.controls import Overlap
from bridge.domain.runs import RunState
from bridge.domain.triggers import format_time, slot_run_id
from bridge.exceptions import InvalidInput
from bridge.ports import Clock, Ledger, Registry

__all__ = [
    "MAX_SLOTS_WITHOUT_LIMIT",
    "BackfillPlan",
    "BackfillReport",
    "FiredSlot",
    "PlannedSlot",
    "SlotAnswer",
    "SlotSender",
    "plan_backfill",
    "run_backfill",
]

#: a window with more slots than this needs --limit
MAX_SLOTS_WITHOUT_LIMIT = 10_000


@dataclass(frozen=True)
class PlannedSlot:
    slot: datetime
    run_id: str  # the run id its trigger derives (DESIGN.md §3.3)
    #: the state of the run the slot already has; None if it has none (or only a missed one)
    ran: RunState | None = None


@dataclass(frozen=True)
class BackfillPlan:
    group: str
    start: datetime
    end: datetime
    overlap: Overlap
    #: every slot looked at, oldest first: those to fire and those that already ran
    slots: tuple[PlannedSlot, ...]

    @property
    def to_fire(self) -> tuple[PlannedSlot, ...]:
        return tuple(slot for slot in self.slots if slot.ran is None)

    @property
    def already_ran(self) -> tuple[PlannedSlot, ...]:
        return tuple(slot for slot in self.slots if slot.ran is not None)


@dataclass(frozen=True)
class SlotAnswer:
    """What the trigger path answered for one slot."""

    decision: str  # "opened" | "duplicate" | "skipped" (as `cronbridge trigger` says)
    run_id: str
    reason: str = ""


class SlotSender(Protocol):
    def __call__(self, group: str, slot: datetime) -> SlotAnswer:
        """Fire `group` for `slot`, as a scheduler would, and say what became of it."""
        ...


@dataclass(frozen=True)
class FiredSlot:
    """A slot fired, and what the trigger path answered (its run id filled in from the
    slot where the answer had none)."""

    slot: datetime
    answer: SlotAnswer


@dataclass(frozen=True)
class BackfillReport:
    plan: BackfillPlan
    fired: tuple[FiredSlot, ...]

    def counts(self) -> dict[str, int]:
        """How many slots got each decision, in the order they first came."""
        counts: dict[str, int] = {}
        for fired in self.fired:
            decision = fired.answer.decision
            counts[decision] = counts.get(decision, 0) + 1
        return counts


def plan_backfill(
    group: str,
    start: datetime,
    end: datetime,
    *,
    registry: Registry,
    ledger: Ledger,
    clock: Clock,
    limit: int | None = None,
) -> BackfillPlan:
    """The slots of `group`'s current schedule in [start, end], oldest first, each with the
    run it already has; with `limit`, up to the first `limit` slots that have none.

    GroupNotFound; InvalidInput for a paused group, a group without a schedule, a window that ends before
    it starts or after now, or one of over MAX_SLOTS_WITHOUT_LIMIT slots without `limit`.
    With `limit`, slots that ran are read past without counting: a window whose slots
    nearly all ran costs a read per slot up to the N-th without a run."""
    if limit is not None and limit < 1:
        raise InvalidInput(f"--limit must be 1 or more, not {limit}")
    if end < start:
        raise InvalidInput(
            f"--to {format_time(end)} is before --from {format_time(start)}",
            hint="give the window's oldest time as --from and its newest as --to",
        )
    now = clock.now()
    if end > now:
        raise InvalidInput(
            f"--to {format_time(end)} is in the future: backfill fires slots that have passed",
            hint=f"end the window at or before now, such as --to {format_time(now)}",
        )
    manifest = registry.load_manifest(group)
    head = registry.head(group)
    if head is not None and head.paused_at(now) is not None:
        # each slot fired now would be recorded as skipped `paused`, and its run id,
        # taken by that record, could never be fired again
        raise InvalidInput(
            f"group {group!r} is paused: every slot fired now would be skipped for good",
            hint=f"resume it first: `cronbridge groups resume {group}`",
        )
    schedule = manifest.schedule
    if schedule is None:
        raise InvalidInput(
            f"group {group!r} has no schedule, so it has no slots to backfill",
            hint=f"register it with one: `cronbridge groups register {group} ..."
            " --schedule '0 3 * * *'`; or fire one slot with"
            f" `cronbridge trigger {group} --scheduled-time T`",
        )
    # slots_between is (start, end]; slots fall on whole seconds, so a second earlier
    # takes in a slot at `start` itself
    window: Iterator[datetime] = (
        slot for slot in schedule.slots_between(start - timedelta(seconds=1), end) if slot >= start
    )
    if limit is None:
        first = list(islice(window, MAX_SLOTS_WITHOUT_LIMIT + 1))
        if len(first) > MAX_SLOTS_WITHOUT_LIMIT:
            raise InvalidInput(
                f"the window from {format_time(start)} to {format_time(end)} holds more than"
                f" {MAX_SLOTS_WITHOUT_LIMIT:,} slots of {schedule.expression!r}",
                hint="add --limit N to fire the oldest N (run it again for the next ones),"
                " or narrow --from and --to",
            )
        window = iter(first)
    return BackfillPlan(
        group=group,
        start=start,
        end=end,
        overlap=manifest.controls.overlap,
        slots=tuple(_look_up(group, window, ledger, limit)),
    )


def run_backfill(
    plan: BackfillPlan,
    *,
    send: SlotSender,
    wait_for_end: Callable[[str], None],
    ledger: Ledger,
    on_fired: Callable[[FiredSlot], None] = lambda fired: None,
) -> BackfillReport:
    """Fire the plan's slots that have no run, oldest first; with overlap `skip` or
    `replace`, each only once the group's latest run has ended (`wait_for_end(run_id)`
    returns when that run has ended). `on_fired` hears of each slot as it goes."""
    fired: list[FiredSlot] = []
    for planned in plan.to_fire:
        if plan.overlap is not Overlap.ALLOW:
            _wait_for_group(plan.group, ledger, wait_for_end)
        answer = send(plan.group, planned.slot)
        done = FiredSlot(planned.slot, replace(answer, run_id=answer.run_id or planned.run_id))
        fired.append(done)
        on_fired(done)
    return BackfillReport(plan=plan, fired=tuple(fired))


def _look_up(
    group: str, window: Iterator[datetime], ledger: Ledger, limit: int | None
) -> Iterator[PlannedSlot]:
    """Each slot with its run (one read by its derived id), until `limit` have none."""
    wanted = 0
    for slot in window:
        run_id = slot_run_id(group, slot)
        run = ledger.get_run(run_id)
        ran = None if run is None or run.state is RunState.MISSED else run.state
        yield PlannedSlot(slot=slot, run_id=run_id, ran=ran)
        if ran is None:
            wanted += 1
            if limit is not None and wanted >= limit:
                return


def _wait_for_group(group: str, ledger: Ledger, wait_for_end: Callable[[str], None]) -> None:
    """Until the group's latest run has ended: the one a slot fired now would meet."""
    while True:
        latest = ledger.latest_run(group)
        if latest is None or latest.state is not RunState.RUNNING:
            return
        wait_for_end(latest.run_id)
