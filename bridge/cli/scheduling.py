"""A group's schedule on the command line: `groups register --schedule --time-zone
--slot-tolerance`, and what `groups show` says of it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from bridge.domain.durations import format_duration, parse_duration
from bridge.domain.groups import GroupManifest
from bridge.domain.schedules import DEFAULT_SLOT_TOLERANCE, Schedule, parse_schedule
from bridge.domain.triggers import format_time
from bridge.exceptions import InvalidInput

__all__ = [
    "NEXT_SLOTS",
    "ScheduleOption",
    "SlotToleranceOption",
    "TimeZoneOption",
    "manifest_json",
    "schedule_from_options",
    "schedule_json",
    "schedule_lines",
]

#: how many coming slots `groups show` names
NEXT_SLOTS = 3

ScheduleOption = Annotated[
    str | None,
    typer.Option(
        metavar="EXPR",
        help="When the group should run: cron '0 3 * * *', EventBridge's"
        " 'cron(0 3 ? * MON-FRI *)', or 'rate(15 minutes)'.",
    ),
]
TimeZoneOption = Annotated[
    str | None,
    typer.Option(
        metavar="ZONE", help="The schedule's IANA time zone, such as Europe/London (default UTC)."
    ),
]
SlotToleranceOption = Annotated[
    str | None,
    typer.Option(
        metavar="DURATION",
        help="How late a slot's trigger may come before the slot counts as missed (default 5m).",
    ),
]


def schedule_from_options(
    expression: str | None, time_zone: str | None, slot_tolerance: str | None
) -> Schedule | None:
    """The schedule the options name; None without --schedule."""
    if expression is None:
        given = [
            option
            for option, value in (("--time-zone", time_zone), ("--slot-tolerance", slot_tolerance))
            if value is not None
        ]
        if given:
            raise InvalidInput(
                f"{' and '.join(given)} {'needs' if len(given) == 1 else 'need'} --schedule",
                hint="add --schedule, such as --schedule '0 3 * * *'",
            )
        return None
    tolerance = (
        DEFAULT_SLOT_TOLERANCE
        if slot_tolerance is None
        else parse_duration(slot_tolerance, option="--slot-tolerance")
    )
    return parse_schedule(expression, time_zone or "UTC", slot_tolerance=tolerance)


def schedule_lines(schedule: Schedule, now: datetime) -> list[str]:
    """What `groups show` prints of a schedule, label first."""
    coming = schedule.next_slots(now, NEXT_SLOTS)
    return [
        f"schedule      {schedule.expression} ({schedule.time_zone}), slot tolerance "
        f"{format_duration(schedule.slot_tolerance)}",
        "next slots    "
        + (", ".join(slot.astimezone(schedule.zone).isoformat() for slot in coming) or "none"),
    ]


def schedule_json(schedule: Schedule, now: datetime) -> dict[str, Any]:
    """The schedule as `groups show --json` gives it: without the zone's stored rules,
    with the next slots (UTC)."""
    shown = {k: v for k, v in schedule.to_dict().items() if k != "time_zone_rules"}
    shown["next_slots"] = [format_time(slot) for slot in schedule.next_slots(now, NEXT_SLOTS)]
    return shown


def manifest_json(manifest: GroupManifest, now: datetime) -> dict[str, Any]:
    """A version as `groups register --json` and `groups show --json` print it."""
    shown = manifest.to_dict()
    if manifest.schedule is not None:
        shown["schedule"] = schedule_json(manifest.schedule, now)
    return shown
