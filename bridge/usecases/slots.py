"""Missed slots (issue 13 item 2): the slots of a group's schedule no trigger came for.

On AWS the sweeper runs this every minute; locally `cronbridge serve` does, with its
sweep. For each group with a schedule, every slot that is past its slot tolerance and
was not looked at yet (the ledger keeps, per group, the last slot looked at) is checked
by the run id its trigger would derive (one read): a slot with no run gets a `missed`
run. A trigger that comes later for it opens it late, or is turned away
(bridge.usecases.dispatch).

Slots before the group's current version was registered are never missed: a schedule
speaks only from the time it was registered. While the group is paused at a slot's time,
the slot is recorded `skipped` (paused) instead, and no alert goes out.

Alerts: the missed runs a group gets in one check are reported as ONE `missed` event
(on the newest of them, naming how many and since when), so a long outage of a frequent
schedule does not become a storm. At most MAX_SLOTS_PER_CHECK slots of a group are
looked at per check, oldest first; the next check goes on from there.
"""

from __future__ import annotations

import logging
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice

from bridge.domain.durations import describe_span, format_duration
from bridge.domain.events import EventKind, RunEvent
from bridge.domain.groups import GroupManifest
from bridge.domain.pause import PAUSED, GroupHead
from bridge.domain.runs import Run, RunState
from bridge.domain.triggers import format_time, slot_run_id
from bridge.exceptions import GroupNotFound
from bridge.ports import Clock, Ledger, Registry

__all__ = ["CHECK_THREADS", "MAX_SLOTS_PER_CHECK", "SlotCheck", "check_group_slots", "check_slots"]

log = logging.getLogger("cronbridge.slots")

#: how many slots of one group one check looks at (each is a read of the ledger)
MAX_SLOTS_PER_CHECK = 1000
#: groups checked at once
CHECK_THREADS = 8


@dataclass(frozen=True)
class SlotCheck:
    group: str
    looked_at: int = 0
    missed: tuple[str, ...] = ()  # run ids recorded missed
    paused: tuple[str, ...] = ()  # run ids recorded skipped (paused)


def check_slots(*, registry: Registry, ledger: Ledger, clock: Clock) -> list[SlotCheck]:
    """Check every scheduled group; what was recorded, per group that had slots due.

    A check reads every group's pointer (one listing and one read per group, as `groups
    list` does) and, for a version it has not seen, the manifest: versions never change,
    so a warm sweeper keeps them (`_known`). A scheduled group then costs one read of the
    ledger (its mark), plus one read and one write per slot due. Groups are checked
    CHECK_THREADS at a time, so a thousand take seconds of the sweeper's minute.
    """
    now = clock.now()
    known = _known.setdefault(registry, {})

    def one(group: str, head: GroupHead) -> SlotCheck | None:
        try:
            key = (group, head.version)
            if key not in known:  # kept only if it has a schedule: all a check needs
                manifest = registry.load_manifest(group, head.version)
                known[key] = manifest if manifest.schedule is not None else None
            scheduled = known[key]
            if scheduled is None:
                return None
            return check_group_slots(scheduled, head, ledger=ledger, now=now)
        except GroupNotFound:
            return None  # deleted meanwhile
        except Exception:  # one group's failure must not hide the others' slots
            log.exception("could not check the group's slots", extra={"group": group})
            return None

    heads = registry.heads()
    for key in [k for k in known if heads.get(k[0], _GONE).version != k[1]]:
        del known[key]  # a version no longer current: forget it
    with ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="slots") as pool:
        checks = list(pool.map(one, heads, heads.values()))
    return [c for c in checks if c is not None and c.looked_at]


_GONE = GroupHead(version=-1)
#: per registry, the group versions a check has read (weakly: a registry that goes
#: away takes its entries with it)
_known: weakref.WeakKeyDictionary[Registry, dict[tuple[str, int], GroupManifest | None]] = (
    weakref.WeakKeyDictionary()
)


def check_group_slots(
    manifest: GroupManifest, head: GroupHead, *, ledger: Ledger, now: datetime
) -> SlotCheck:
    schedule = manifest.schedule
    assert schedule is not None
    group = manifest.group
    due = now - timedelta(seconds=schedule.slot_tolerance)
    registered = datetime.fromisoformat(manifest.created_at)
    checked = ledger.slots_checked(group)
    start = registered if checked is None else max(checked, registered)
    slots = list(islice(schedule.slots_between(start, due), MAX_SLOTS_PER_CHECK))
    if not slots:
        return SlotCheck(group)
    missed: list[Run] = []
    paused: list[str] = []
    tolerance = format_duration(schedule.slot_tolerance)
    for slot in slots:
        run_id = slot_run_id(group, slot)
        if ledger.get_run(run_id) is not None:
            continue
        run = Run(
            run_id=run_id,
            group=group,
            version=manifest.version,
            state=RunState.MISSED,
            total=manifest.total_jobs,
            slot_time=slot,
            opened_at=now,
            source="schedule",
            scheduled=True,
            reason=f"no trigger came within slot_tolerance {tolerance}",
            finished_at=now,
            tolerance=manifest.controls.tolerated_failures,
        )
        if head.paused_at(slot) is not None:
            skipped = replace(run, state=RunState.SKIPPED, reason=PAUSED)
            if ledger.record_skip(skipped) == "opened":
                paused.append(run_id)
            continue
        missed.append(run)
    recorded = _record_missed(missed, ledger, now)
    ledger.set_slots_checked(group, due if len(slots) < MAX_SLOTS_PER_CHECK else slots[-1])
    if recorded:
        log.warning("missed slots recorded", extra={"group": group, "runs": len(recorded)})
    return SlotCheck(group, len(slots), tuple(recorded), tuple(paused))


def _record_missed(runs: list[Run], ledger: Ledger, now: datetime) -> list[str]:
    """Record the runs, oldest first; the newest carries, in the same write, the one
    event that reports them all."""
    recorded: list[Run] = []
    for index, run in enumerate(runs):
        newest = index == len(runs) - 1
        events = [_missed_event([*recorded, run], now)] if newest else []
        if ledger.record_missed(run, events) == "opened":
            recorded.append(run)
        elif newest and recorded:
            # A trigger (or another sweep) got to the newest slot first: the older ones
            # recorded here are still reported, on the newest of them.
            ledger.note_event(_missed_event(recorded, now))
    return [run.run_id for run in recorded]


def _missed_event(runs: list[Run], now: datetime) -> RunEvent:
    newest = runs[-1]
    if len(runs) == 1:
        detail = f"no trigger came for the slot {format_time(newest.slot_time)}"
    else:
        detail = (
            f"{len(runs):,} slots missed, from {format_time(runs[0].slot_time)} to"
            f" {format_time(newest.slot_time)}"
        )
    late = describe_span((now - newest.slot_time).total_seconds())
    return RunEvent(
        EventKind.MISSED, newest.run_id, newest.group, 1, now, detail=f"{detail} ({late} ago)"
    )
