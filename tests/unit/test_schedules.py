"""Group schedules: the three forms, the slots they give, daylight saving time as
EventBridge Scheduler documents it, and one message with a hint for every mistake."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.controls import Controls
from bridge.domain.groups import GroupManifest, ListManifest
from bridge.domain.schedules import DEFAULT_SLOT_TOLERANCE, DailyTimes, Schedule, parse_schedule
from bridge.exceptions import InvalidInput

LONDON = "Europe/London"
NEW_YORK = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)  # type: ignore[misc]


def walls(schedule: Schedule, start: datetime, end: datetime) -> list[str]:
    """The slots in (start, end] as wall-clock times with their offset."""
    return [
        slot.astimezone(schedule.zone).isoformat() for slot in schedule.slots_between(start, end)
    ]


# -- the three forms ---------------------------------------------------------------------


def test_a_five_field_cron_line_runs_at_its_times() -> None:
    schedule = parse_schedule("0 3 * * *")
    assert schedule.next_slots(utc(2026, 11, 22, 3), 3) == [
        utc(2026, 11, 23, 3),
        utc(2026, 11, 24, 3),
        utc(2026, 11, 25, 3),
    ]


def test_a_five_field_line_with_both_day_fields_matches_either_as_crontab() -> None:
    schedule = parse_schedule("0 0 1 * MON")  # the 1st of the month, and every Monday
    assert schedule.next_slots(utc(2026, 11, 28), 3) == [
        utc(2026, 11, 30),  # Monday
        utc(2026, 12, 1),  # the 1st, a Tuesday
        utc(2026, 12, 7),  # Monday
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 3 ? * MON-FRI *)",
        "CRON(0 3 ? * mon-fri *)",
        "0 3 ? * MON-FRI *",
        "cron(0 3 ? * 2-6 *)",  # EventBridge's day numbers: 1 is Sunday
        "cron( 0 3 ? * 2,3,4,5,6 * )",
    ],
)
def test_eventbridges_six_fields_with_or_without_cron(expression: str) -> None:
    weekdays = parse_schedule("0 3 * * 1-5")
    start = utc(2026, 11, 20)  # a Friday
    assert parse_schedule(expression).next_slots(start, 10) == weekdays.next_slots(start, 10)
    assert [slot.weekday() for slot in weekdays.next_slots(start, 5)] == [4, 0, 1, 2, 3]


def test_eventbridges_sunday_is_one_and_saturday_seven() -> None:
    sunday, saturday = parse_schedule("cron(0 0 ? * 1 *)"), parse_schedule("cron(0 0 ? * 7 *)")
    assert sunday.next_slot(utc(2026, 11, 23)) == utc(2026, 11, 29)  # a Sunday
    assert saturday.next_slot(utc(2026, 11, 23)) == utc(2026, 11, 28)  # a Saturday


@pytest.mark.parametrize(
    ("expression", "first_three"),
    [
        # the last day of the month
        ("cron(0 0 L * ? *)", [(2026, 11, 30), (2026, 12, 31), (2027, 1, 31)]),
        # the last weekday of the month
        ("cron(0 0 LW * ? *)", [(2026, 11, 30), (2026, 12, 31), (2027, 1, 29)]),
        # the last Friday (6) of the month
        ("cron(0 0 ? * 6L *)", [(2026, 11, 27), (2026, 12, 25), (2027, 1, 29)]),
        # the first Monday (2) of the month
        ("cron(0 0 ? * 2#1 *)", [(2026, 12, 7), (2027, 1, 4), (2027, 2, 1)]),
        ("cron(0 0 ? * MON#1 *)", [(2026, 12, 7), (2027, 1, 4), (2027, 2, 1)]),
    ],
)
def test_l_lw_and_hash_as_the_library_supports_them(
    expression: str, first_three: list[tuple[int, int, int]]
) -> None:
    slots = parse_schedule(expression).next_slots(utc(2026, 11, 22), 3)
    assert slots == [utc(*day) for day in first_three]


def test_the_year_field_bounds_the_slots() -> None:
    schedule = parse_schedule("cron(0 0 1 1 ? 2030-2032)")
    assert schedule.next_slots(utc(2026, 11, 22), 5) == [
        utc(2030, 1, 1),
        utc(2031, 1, 1),
        utc(2032, 1, 1),
    ]
    assert schedule.next_slot(utc(2032, 1, 1)) is None
    assert schedule.previous_slot(utc(2029, 12, 31)) is None
    assert schedule.previous_slot(utc(2040, 6, 1)) == utc(2032, 1, 1)


def test_year_lists_and_steps() -> None:
    schedule = parse_schedule("cron(0 12 1 6 ? 2027,2030/5)")
    assert schedule.next_slots(utc(2026, 1, 1), 4) == [
        utc(2027, 6, 1, 12),
        utc(2030, 6, 1, 12),
        utc(2035, 6, 1, 12),
        utc(2040, 6, 1, 12),
    ]
    assert schedule.previous_slot(utc(2034, 1, 1)) == utc(2030, 6, 1, 12)


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(15 minutes)", timedelta(minutes=15)),
        ("rate(2 hours)", timedelta(hours=2)),
        ("rate(1 day)", timedelta(days=1)),
        ("RATE( 3 Days )", timedelta(days=3)),
    ],
)
def test_a_rate_counts_from_its_anchor(expression: str, interval: timedelta) -> None:
    registered = utc(2026, 11, 22, 3, 0, 42)
    schedule = parse_schedule(expression).anchored_at(registered)
    anchor = utc(2026, 11, 22, 3)  # the minute it was registered in
    assert schedule.anchor == anchor and schedule.interval == interval
    assert schedule.next_slots(registered, 3) == [anchor + k * interval for k in (1, 2, 3)]
    assert schedule.previous_slot(anchor + interval - timedelta(seconds=1)) is None
    assert schedule.previous_slot(anchor + 5 * interval) == anchor + 5 * interval
    assert schedule.next_slot(anchor + 5 * interval) == anchor + 6 * interval


def test_a_days_rate_is_24_hours_even_across_daylight_saving_time() -> None:
    schedule = parse_schedule("rate(1 day)", LONDON).anchored_at(utc(2026, 3, 27, 12))
    slots = schedule.next_slots(utc(2026, 3, 27, 12), 3)
    assert slots == [utc(2026, 3, 28, 12), utc(2026, 3, 29, 12), utc(2026, 3, 30, 12)]
    # 12:00 GMT, then 13:00 BST: the wall clock moves, the interval does not
    assert [s.astimezone(schedule.zone).hour for s in slots] == [12, 13, 13]


def test_a_rate_without_an_anchor_has_no_slots_to_give() -> None:
    with pytest.raises(ValueError, match="no anchor"):
        parse_schedule("rate(5 minutes)").next_slot(utc(2026, 1, 1))


def test_slots_between_is_start_exclusive_end_inclusive_oldest_first() -> None:
    schedule = parse_schedule("0 * * * *")
    assert list(schedule.slots_between(utc(2026, 1, 1, 1), utc(2026, 1, 1, 4))) == [
        utc(2026, 1, 1, 2),
        utc(2026, 1, 1, 3),
        utc(2026, 1, 1, 4),
    ]
    assert list(schedule.slots_between(utc(2026, 1, 1, 4), utc(2026, 1, 1, 4))) == []


def test_previous_slot_is_at_or_before() -> None:
    schedule = parse_schedule("0 3 * * *")
    assert schedule.previous_slot(utc(2026, 11, 22, 3)) == utc(2026, 11, 22, 3)
    assert schedule.previous_slot(utc(2026, 11, 22, 2, 59, 59, 999999)) == utc(2026, 11, 21, 3)
    assert schedule.next_slot(utc(2026, 11, 22, 2, 59, 59, 999999)) == utc(2026, 11, 22, 3)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        parse_schedule("0 3 * * *").next_slot(datetime(2026, 1, 1))


def test_fixed_offsets_and_utc_need_no_tz_database() -> None:
    tokyo = parse_schedule("0 9 * * *", "+09:00")
    assert tokyo.zone_rules is None
    assert tokyo.next_slot(utc(2026, 11, 21, 12)) == utc(2026, 11, 22)
    assert parse_schedule("0 9 * * *", "-05:30").next_slot(utc(2026, 11, 22)) == utc(
        2026, 11, 22, 14, 30
    )
    assert parse_schedule("0 3 * * *").zone_rules is None


# -- daylight saving time, as EventBridge Scheduler ---------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "expression", "expected"),
    [
        # London springs forward at 01:00 GMT on 29 March 2026: 01:30 does not exist
        (
            LONDON,
            (2026, 3, 28),
            "30 1 * * *",
            ["2026-03-28T01:30:00+00:00", "2026-03-30T01:30:00+01:00"],
        ),
        # New York springs forward at 02:00 EST on 8 March 2026: 02:30 does not exist
        (
            NEW_YORK,
            (2026, 3, 7),
            "cron(30 2 * * ? *)",
            ["2026-03-07T02:30:00-05:00", "2026-03-09T02:30:00-04:00"],
        ),
    ],
)
def test_a_slot_in_the_hour_skipped_in_spring_does_not_run(
    zone: str, day: tuple[int, int, int], expression: str, expected: list[str]
) -> None:
    schedule = parse_schedule(expression, zone)
    start = local(zone, *day)
    assert walls(schedule, start, start + timedelta(days=3)) == expected


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # London falls back at 02:00 BST on 25 October 2026: 01:30 happens twice
        (
            LONDON,
            (2026, 10, 24),
            ["2026-10-24T01:30:00+01:00", "2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"],
        ),
        # New York falls back at 02:00 EDT on 1 November 2026
        (
            NEW_YORK,
            (2026, 10, 31),
            ["2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
        ),
    ],
)
def test_the_hour_repeated_in_autumn_runs_once(
    zone: str, day: tuple[int, int, int], expected: list[str]
) -> None:
    schedule = parse_schedule("30 1 * * *", zone)
    start = local(zone, *day)
    assert walls(schedule, start, start + timedelta(days=2, hours=12)) == expected


def test_an_hourly_schedule_has_23_slots_in_spring_and_24_in_autumn() -> None:
    schedule = parse_schedule("0 * * * *", NEW_YORK)
    spring = list(schedule.slots_between(local(NEW_YORK, 2026, 3, 8), local(NEW_YORK, 2026, 3, 9)))
    autumn = list(
        schedule.slots_between(local(NEW_YORK, 2026, 11, 1), local(NEW_YORK, 2026, 11, 2))
    )
    assert len(spring) == 23  # 00:00 exclusive, 02:00 missing, the next 00:00 inclusive
    assert len(autumn) == 24  # a 25-hour day, and 01:00 once
    assert autumn[0] == utc(2026, 11, 1, 5)  # the first 01:00 (EDT)
    assert autumn[1] == utc(2026, 11, 1, 7)  # then 02:00 EST: two hours on


def test_every_quarter_hour_in_the_repeated_hour_runs_once_each() -> None:
    schedule = parse_schedule("*/15 1 * * *", LONDON)
    slots = walls(schedule, local(LONDON, 2026, 10, 25), local(LONDON, 2026, 10, 25, 12))
    assert slots == [f"2026-10-25T01:{m:02d}:00+01:00" for m in (0, 15, 30, 45)]


def test_looking_from_inside_the_repeated_hour() -> None:
    schedule = parse_schedule("*/20 1 * * *", NEW_YORK)
    first_pass_end = utc(2026, 11, 1, 5, 40)  # 01:40 EDT, the last slot of the day
    second_pass = local(NEW_YORK, 2026, 11, 1, 1, 30, fold=1)  # 01:30 EST, an hour on
    assert schedule.previous_slot(second_pass) == first_pass_end
    assert schedule.next_slot(second_pass) == local(NEW_YORK, 2026, 11, 2, 1)
    assert schedule.next_slot(local(NEW_YORK, 2026, 11, 1, 1, 30)) == first_pass_end


# -- what is stored ------------------------------------------------------------------------


def test_a_schedule_is_stored_with_its_zones_rules_and_read_back_equal() -> None:
    schedule = parse_schedule("cron(0 3 ? * MON-FRI *)", LONDON, slot_tolerance=120)
    stored = json.loads(json.dumps(schedule.to_dict()))
    assert stored["expression"] == "cron(0 3 ? * MON-FRI *)"
    assert stored["time_zone"] == LONDON and stored["slot_tolerance"] == 120
    assert stored["time_zone_rules"]  # the TZif file, base64
    again = Schedule.from_dict(stored)
    assert again == schedule
    start = utc(2026, 3, 20)
    assert again.next_slots(start, 10) == schedule.next_slots(start, 10)


def test_the_stored_rules_give_the_zone_where_there_is_no_tz_database() -> None:
    """As on Lambda, whose runtime has neither a tz database nor the tzdata package."""
    stored = parse_schedule("30 1 * * *", NEW_YORK).to_dict()
    script = f"""
import json, sys, zoneinfo
sys.modules["tzdata"] = None  # no tzdata package
zoneinfo.reset_tzpath(to=[])  # no system tz database
from datetime import datetime, UTC
try:
    zoneinfo.ZoneInfo("America/New_York")
except zoneinfo.ZoneInfoNotFoundError:
    pass
else:
    raise SystemExit("the zone was found")
from bridge.domain.schedules import Schedule
schedule = Schedule.from_dict(json.loads({json.dumps(json.dumps(stored))}))
print(schedule.next_slot(datetime(2026, 11, 1, tzinfo=UTC)).isoformat())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2026-11-01T05:30:00+00:00"  # 01:30 EDT, once


def manifest(**extra: object) -> GroupManifest:
    return GroupManifest(
        group="g",
        version=2,
        target="python:publishers.examples:echo",
        controls=Controls(),
        lists=(ListManifest("a", (3,)),),
        created_at="2026-11-22T03:00:42.123Z",
        **extra,  # type: ignore[arg-type]
    )


def test_a_manifest_keeps_its_schedule_anchored_at_its_registration() -> None:
    version = manifest(schedule=parse_schedule("rate(10 minutes)", slot_tolerance=60))
    assert version.schedule is not None and version.schedule.anchor == utc(2026, 11, 22, 3)
    again = GroupManifest.from_dict(json.loads(json.dumps(version.to_dict())))
    assert again == version
    assert again.schedule is not None
    assert again.schedule.next_slot(utc(2026, 11, 22, 3, 5)) == utc(2026, 11, 22, 3, 10)


def test_a_manifest_without_a_schedule_still_loads() -> None:
    old = manifest().to_dict()
    assert "schedule" not in old
    assert GroupManifest.from_dict(old).schedule is None


def test_the_default_slot_tolerance_is_five_minutes() -> None:
    assert parse_schedule("0 3 * * *").slot_tolerance == DEFAULT_SLOT_TOLERANCE == 300


# -- the shape a Logic Apps recurrence can take ------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 3 * * *", DailyTimes((3,), (0,), None)),
        ("*/20 8-9 * * *", DailyTimes((8, 9), (0, 20, 40), None)),
        ("cron(0 3 ? * MON-FRI *)", DailyTimes((3,), (0,), (1, 2, 3, 4, 5))),
        ("0 3 * * 0,7", DailyTimes((3,), (0,), (0,))),
        ("0 3 * * 0-6", DailyTimes((3,), (0,), None)),
        ("0 3 1 * *", None),
        ("0 3 * 2 *", None),
        ("cron(0 3 ? * 2#1 *)", None),
        ("cron(0 3 ? * 6L *)", None),
        ("cron(0 3 * * ? 2030)", None),
        ("cron(0 3 L * ? *)", None),
    ],
)
def test_daily_times(expression: str, expected: DailyTimes | None) -> None:
    assert parse_schedule(expression).daily_times() == expected


# -- mistakes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("", "not 0"),
        ("0 3 * *", "not 4"),
        ("0 3 * * * * *", "not 7"),
        ("cron(0 3 * * *)", "cron(...) takes EventBridge's 6 fields"),
        ("cron(0 3 * * MON *)", "exactly one of day-of-month and day-of-week is '?'"),
        ("cron(0 3 ? * ? *)", "exactly one of day-of-month and day-of-week is '?'"),
        ("cron(0 3 ? * 8 *)", "day-of-week 8 is not 1-7"),
        ("cron(0 3 ? * 0 *)", "day-of-week 0 is not 1-7"),
        ("cron(0 3 15W * ? *)", "W in day-of-month is supported only as LW"),
        ("cron(0 3 * * ? 1969)", "within 1970-2199"),
        ("cron(0 3 * * ? 2030-2026)", "within 1970-2199"),
        ("cron(0 3 * * ? soon)", "year 'SOON' is not a year"),
        ("61 * * * *", "bad minute field"),
        ("0 24 * * *", "bad hour field"),
        ("0 0 30 2 *", "bad day-of-month field"),
        ("0 0 * * FUNDAY", "bad day-of-week field"),
        ("rate(0 minutes)", "N 1 or more"),
        ("rate(5 weeks)", "rate(N minutes|hours|days)"),
        ("rate(five minutes)", "rate(N minutes|hours|days)"),
        ("every day", "not 2"),
    ],
)
def test_a_schedule_that_cannot_be_read_says_why_with_an_example(
    expression: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_schedule(expression)
    assert words in info.value.message
    assert info.value.message.startswith("--schedule ")
    assert info.value.hint is not None and "cron(0 3 ? * MON-FRI *)" in info.value.hint


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "", "../../etc/passwd", "/etc/localtime", "+24:00", "+05:60"]
)
def test_an_unknown_time_zone_says_so_with_an_example_zone(zone: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_schedule("0 3 * * *", zone)
    assert info.value.message.startswith("--time-zone ")
    assert info.value.hint is not None and "Europe/London" in info.value.hint


def test_a_negative_tolerance_is_refused() -> None:
    with pytest.raises(InvalidInput, match="--slot-tolerance"):
        parse_schedule("0 3 * * *", slot_tolerance=-1)


# -- properties ---------------------------------------------------------------------------

ZONES = ["UTC", LONDON, NEW_YORK, "Australia/Lord_Howe", "+05:45"]


def _field(values: list[int]) -> str:
    return ",".join(str(v) for v in sorted(set(values)))


@given(
    minutes=st.lists(st.integers(0, 59), min_size=1, max_size=4),
    hours=st.one_of(st.none(), st.lists(st.integers(0, 23), min_size=1, max_size=4)),
    weekdays=st.one_of(st.none(), st.lists(st.integers(0, 6), min_size=1, max_size=3)),
    zone=st.sampled_from(ZONES),
    start=st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC)),
)
def test_slots_strictly_increase_and_each_is_a_match(
    minutes: list[int],
    hours: list[int] | None,
    weekdays: list[int] | None,
    zone: str,
    start: datetime,
) -> None:
    hour_field = "*" if hours is None else _field(hours)
    day_field = "*" if weekdays is None else _field(weekdays)
    schedule = parse_schedule(f"{_field(minutes)} {hour_field} * * {day_field}", zone)
    slots = schedule.next_slots(start, 12)
    assert len(slots) == 12
    assert all(a < b for a, b in zip([start, *slots], slots, strict=False))
    for slot in slots:
        wall = slot.astimezone(schedule.zone)
        assert wall.second == 0 and wall.microsecond == 0
        assert wall.minute in minutes
        assert hours is None or wall.hour in hours
        assert weekdays is None or (wall.weekday() + 1) % 7 in weekdays
        assert wall.fold == 0  # a repeated wall time is taken at its first occurrence
        assert schedule.previous_slot(slot) == slot
    for earlier, later in pairwise(slots):
        assert schedule.next_slot(earlier) == later
        assert schedule.previous_slot(later - timedelta(microseconds=1)) == earlier
    assert list(schedule.slots_between(start, slots[-1])) == slots


@given(
    count=st.integers(1, 90),
    unit=st.sampled_from(["minutes", "hours", "days"]),
    registered=st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC)),
    later=st.timedeltas(timedelta(0), timedelta(days=400)),
)
def test_rate_slots_are_the_anchor_plus_whole_intervals(
    count: int, unit: str, registered: datetime, later: timedelta
) -> None:
    schedule = parse_schedule(f"rate({count} {unit})").anchored_at(registered)
    assert schedule.anchor is not None and schedule.interval is not None
    now = registered + later
    slots = schedule.next_slots(now, 5)
    assert all(a < b for a, b in zip([now, *slots], slots, strict=False))
    assert all((slot - schedule.anchor) % schedule.interval == timedelta(0) for slot in slots)
    assert slots[0] - now <= schedule.interval and slots[0] > schedule.anchor
    previous = schedule.previous_slot(now)
    assert previous is None or schedule.next_slot(previous) == slots[0]
