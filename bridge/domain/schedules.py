"""A group's schedule: which slots it should run at, in which time zone.

Three forms, as `groups register --schedule` takes them:

- cron, 5 fields: `0 3 * * *` (minute hour day-of-month month day-of-week, as crontab:
  day-of-week 0-7 with 0 and 7 Sunday; when both day fields are restricted, either
  matching is a match);
- cron, EventBridge's 6 fields, with or without `cron(...)`: `cron(0 3 ? * MON-FRI *)`
  (minutes hours day-of-month month day-of-week year; one of the two day fields is `?`;
  day-of-week 1-7 is SUN-SAT; `L`, `LW` and `#` as the library supports them; the year
  field bounds the slots);
- `rate(N minute|minutes|hour|hours|day|days)`, N >= 1: every N units from the anchor
  (the minute the group's version was registered in); as EventBridge, a day is 24 hours.

The cron arithmetic is cronsim's (vendored: bridge/vendor/__init__.py says why); this
module only turns EventBridge's dialect into the 5-field form cronsim reads.

Daylight saving time follows EventBridge Scheduler (User Guide, "Schedule types", on
daylight saving time: "When the time shifts forward in Spring, your schedule invocation
gets skipped if the cron expression falls on a non-existent date and time. When the time
shifts back in the Fall, your schedule runs only once and doesn't repeat its
invocation."). So cron slots are iterated as NAIVE wall-clock times (cronsim's own DST
handling, which mimics Debian cron and runs a skipped slot late, is never engaged) and
each is mapped to the zone: a wall time that does not exist is dropped, and an ambiguous
one is taken once, at its first occurrence (fold=0).

Zones: `UTC`, a fixed offset (`+09:00`) or any IANA name. An IANA zone's rules (its
TZif file, a few KiB) are read once, at registration, from the system's tz database or
the `tzdata` package, and kept with the schedule: the sweeper on Lambda, whose runtime
has no tz database and whose zip holds only our .py files, builds the zone from them
with the standard library alone, and every machine computes the same slots for a
version. Re-register a group to pick up newer rules.

Slots are aware datetimes in UTC, at whole seconds.
"""

from __future__ import annotations

import base64
import functools
import importlib.resources
import io
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from itertools import islice, takewhile
from pathlib import Path
from typing import Any

from bridge.domain._show import show
from bridge.exceptions import InvalidInput
from bridge.vendor.cronsim import CronSim, CronSimError

__all__ = [
    "DEFAULT_SLOT_TOLERANCE",
    "DailyTimes",
    "Schedule",
    "parse_schedule",
]

#: how late a slot's trigger may come before the slot counts as missed (seconds)
DEFAULT_SLOT_TOLERANCE = 300.0

_HINT = (
    "write a cron line such as '0 3 * * *', EventBridge's 'cron(0 3 ? * MON-FRI *)',"
    " or 'rate(15 minutes)'"
)
_ZONE_HINT = "give an IANA time zone such as Europe/London or America/New_York, or UTC"
_RATE = re.compile(r"rate\((.*)\)", re.IGNORECASE | re.DOTALL)
_RATE_BODY = re.compile(r"\s*(\d+)\s+(minute|hour|day)s?\s*", re.IGNORECASE)
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_CRON = re.compile(r"cron\((.*)\)", re.IGNORECASE | re.DOTALL)
_OFFSET = re.compile(r"([+-])(\d\d):(\d\d)")
_FIELDS = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")
# EventBridge's year field takes 1970-2199; no slot is looked for outside it.
_FIRST_YEAR, _LAST_YEAR = 1970, 2199
_YEAR_TERM = re.compile(r"(\*|\d{4})(?:-(\d{4}))?(?:/(\d+))?")
_DAY_NUMBER = re.compile(r"(?<![#/\d])\d+")


@dataclass(frozen=True)
class DailyTimes:
    """A cron schedule that is the same times of day every day, or on some days of the
    week: every hour in `hours` at every minute in `minutes`, the shape a Logic Apps
    recurrence can express."""

    hours: tuple[int, ...]
    minutes: tuple[int, ...]
    #: 0-6, Sunday first; None for every day
    weekdays: tuple[int, ...] | None


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule. Build one with `parse_schedule`; a manifest's is anchored at
    the version's registration (`anchored_at`), which a rate's slots count from."""

    expression: str
    time_zone: str = "UTC"
    slot_tolerance: float = DEFAULT_SLOT_TOLERANCE
    #: rate schedules: slots are anchor + k * interval, k >= 1 (whole minutes)
    anchor: datetime | None = None
    #: the zone's TZif rules, as read at registration (None: UTC, offsets, or a lookup)
    zone_rules: bytes | None = field(default=None, repr=False)
    _cron: str | None = field(init=False, repr=False, compare=False)
    _years: frozenset[int] | None = field(init=False, repr=False, compare=False)
    _interval: timedelta | None = field(init=False, repr=False, compare=False)
    _zone: tzinfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cron, years, interval = _parse_expression(self.expression)
        if not self.slot_tolerance >= 0 or self.slot_tolerance == float("inf"):
            raise InvalidInput(
                f"--slot-tolerance must be zero or more seconds, not {self.slot_tolerance!r}",
                hint="for example --slot-tolerance 5m",
            )
        if self.anchor is not None and self.anchor.tzinfo is None:
            raise ValueError("a schedule's anchor must be an aware datetime")
        object.__setattr__(self, "_cron", cron)
        object.__setattr__(self, "_years", years)
        object.__setattr__(self, "_interval", interval)
        object.__setattr__(self, "_zone", _zone(self.time_zone, self.zone_rules))

    @property
    def is_rate(self) -> bool:
        return self._interval is not None

    @property
    def zone(self) -> tzinfo:
        return self._zone

    @property
    def interval(self) -> timedelta | None:
        """A rate's interval; None for cron."""
        return self._interval

    def daily_times(self) -> DailyTimes | None:
        """This cron schedule as times of day (on some weekdays), or None if it is a
        rate or restricts days of the month, months or years, or uses L or #."""
        if self._cron is None or self._years is not None:
            return None
        cron = CronSim(self._cron, datetime(2000, 1, 1))
        weekdays = {day % 7 for day in cron.weekdays if isinstance(day, int)}
        if (
            cron.seconds != {0}
            or cron.months != set(range(1, 13))
            or cron.days != set(range(1, 32))
            or not cron.day_and
            or any(not isinstance(day, int) for day in cron.weekdays)  # L or #
        ):
            return None
        return DailyTimes(
            hours=tuple(sorted(cron.hours)),
            minutes=tuple(sorted(cron.minutes)),
            weekdays=None if weekdays == set(range(7)) else tuple(sorted(weekdays)),
        )

    def anchored_at(self, created_at: str | datetime) -> Schedule:
        """This schedule counting from `created_at` (a version's registration time),
        floored to the minute."""
        moment = datetime.fromisoformat(created_at) if isinstance(created_at, str) else created_at
        moment = moment.astimezone(UTC).replace(second=0, microsecond=0)
        return replace(self, anchor=moment)

    # -- slots ---------------------------------------------------------------------------

    def slots_after(self, after: datetime) -> Iterator[datetime]:
        """Every slot strictly after `after`, oldest first (endless for most schedules)."""
        after = _as_utc(after)
        if self._interval is not None:
            return self._rate_after(after, self._interval)
        return self._cron_after(after)

    def slots_between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """The slots in (start, end], oldest first."""
        end = _as_utc(end)
        return takewhile(lambda slot: slot <= end, self.slots_after(start))

    def next_slot(self, after: datetime) -> datetime | None:
        """The first slot strictly after `after`; None if there is none (a year field
        that has ended)."""
        return next(self.slots_after(after), None)

    def next_slots(self, after: datetime, count: int) -> list[datetime]:
        return list(islice(self.slots_after(after), count))

    def previous_slot(self, at_or_before: datetime) -> datetime | None:
        """The last slot at or before `at_or_before`; None if there is none."""
        at_or_before = _as_utc(at_or_before)
        if self._interval is not None:
            anchor = self._rate_anchor()
            steps = (at_or_before - anchor) // self._interval
            return anchor + steps * self._interval if steps >= 1 else None
        local = at_or_before.astimezone(self._zone)
        wall = local.replace(tzinfo=None, microsecond=0)
        first_pass, second_pass = local.replace(fold=0).utcoffset(), local.utcoffset()
        if local.fold and first_pass is not None and second_pass is not None:
            # in the repeated hour's second pass, later wall times of its first pass are
            # earlier instants: look from as far on as the clocks went back
            wall += first_pass - second_pass
        for naive in self._wall_times(wall + timedelta(seconds=1), reverse=True):
            slot = self._instant(naive)
            if slot is not None and slot <= at_or_before:
                return slot
        return None

    # -- storage -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        rules = self.zone_rules
        return {
            "expression": self.expression,
            "time_zone": self.time_zone,
            "slot_tolerance": self.slot_tolerance,
            **({} if rules is None else {"time_zone_rules": base64.b64encode(rules).decode()}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        rules = data.get("time_zone_rules")
        return cls(
            expression=data["expression"],
            time_zone=data.get("time_zone", "UTC"),
            slot_tolerance=float(data.get("slot_tolerance", DEFAULT_SLOT_TOLERANCE)),
            zone_rules=None if rules is None else base64.b64decode(rules),
        )

    # -- how -----------------------------------------------------------------------------

    def _rate_anchor(self) -> datetime:
        if self.anchor is None:
            raise ValueError(f"rate schedule {self.expression!r} has no anchor to count from")
        return self.anchor

    def _rate_after(self, after: datetime, interval: timedelta) -> Iterator[datetime]:
        anchor = self._rate_anchor()
        step = max(1, (after - anchor) // interval + 1)
        while True:
            yield anchor + step * interval
            step += 1

    def _cron_after(self, after: datetime) -> Iterator[datetime]:
        local = after.astimezone(self._zone)
        # A wall time at or before `after`'s maps at or before it (fold=0 is the earlier
        # pass); only in the repeated hour's second pass may later wall times map before.
        for naive in self._wall_times(local.replace(tzinfo=None), reverse=False):
            slot = self._instant(naive)
            if slot is not None and slot > after:
                yield slot

    def _wall_times(self, start: datetime, *, reverse: bool) -> Iterator[datetime]:
        """The cron's matching wall-clock times strictly after (before) `start`, naive,
        within the year field and EventBridge's years."""
        assert self._cron is not None
        years = self._years
        cursor = start
        while True:
            try:
                for naive in CronSim(self._cron, cursor, reverse=reverse):
                    if not _FIRST_YEAR <= naive.year <= _LAST_YEAR:
                        return
                    if years is None or naive.year in years:
                        yield naive
                        continue
                    # jump over the years the field leaves out, then look again
                    if reverse:
                        earlier = [year for year in years if year < naive.year]
                        if not earlier:
                            return
                        cursor = datetime(max(earlier) + 1, 1, 1)  # cronsim steps back 1 s
                    else:
                        later = [year for year in years if year > naive.year]
                        if not later:
                            return
                        cursor = datetime(min(later), 1, 1) - timedelta(seconds=1)
                    break
                else:
                    return  # cronsim found no match within 50 years
            except OverflowError:
                return

    def _instant(self, naive: datetime) -> datetime | None:
        """The UTC instant of a wall-clock time: its first occurrence, or None when the
        zone skips it (see the module docstring)."""
        local = naive.replace(tzinfo=self._zone, fold=0)
        instant = local.astimezone(UTC)
        if instant.astimezone(self._zone).replace(tzinfo=None) != naive:
            return None
        return instant


def parse_schedule(
    expression: str,
    time_zone: str = "UTC",
    *,
    slot_tolerance: float = DEFAULT_SLOT_TOLERANCE,
) -> Schedule:
    """The schedule `expression` names, in `time_zone`; InvalidInput, with a hint that
    shows a valid example, if either cannot be read. Reads the zone's rules (see the
    module docstring) so they can be stored with the group's version."""
    expression = expression.strip()
    time_zone = time_zone.strip()
    return Schedule(
        expression=expression,
        time_zone=time_zone,
        slot_tolerance=slot_tolerance,
        zone_rules=_zone_rules(time_zone),
    )


# -- expressions -------------------------------------------------------------------------


def _parse_expression(text: str) -> tuple[str | None, frozenset[int] | None, timedelta | None]:
    """(cron for cronsim, the years allowed or None, None) or (None, None, a rate's interval)."""
    rate = _RATE.fullmatch(text.strip())
    if rate is not None:
        return None, None, _rate_interval(text, rate.group(1))
    wrapped = _CRON.fullmatch(text.strip())
    fields = (wrapped.group(1) if wrapped else text).split()
    if wrapped is not None and len(fields) != 6:
        raise _bad(
            text, f"cron(...) takes EventBridge's 6 fields ({' '.join(_FIELDS)}), not {len(fields)}"
        )
    if len(fields) == 5:
        cron, years = " ".join(fields), None
    elif len(fields) == 6:
        cron, years = _from_eventbridge(text, fields)
    else:
        raise _bad(
            text,
            f"a cron line has 5 fields (minute hour day-of-month month day-of-week) or"
            f" EventBridge's 6 ({' '.join(_FIELDS)}), not {len(fields)}",
        )
    try:
        CronSim(cron, datetime(2000, 1, 1))
    except CronSimError as exc:  # "Bad minute", "Bad day-of-week", ...
        raise _bad(text, f"{str(exc).lower()} field") from None
    return cron, years, None


def _rate_interval(text: str, body: str) -> timedelta:
    found = _RATE_BODY.fullmatch(body)
    if found is None or int(found.group(1)) < 1:
        raise _bad(text, "a rate is rate(N minutes|hours|days) with N 1 or more")
    return timedelta(seconds=int(found.group(1)) * _RATE_UNITS[found.group(2).lower()])


def _from_eventbridge(text: str, fields: list[str]) -> tuple[str, frozenset[int] | None]:
    """EventBridge's 6 fields as the 5 cronsim reads, and the year field's years."""
    minutes, hours, dom, month, dow, year = (f.upper() for f in fields)
    if (dom == "?") == (dow == "?"):
        raise _bad(
            text,
            "in EventBridge's form exactly one of day-of-month and day-of-week is '?'",
        )
    if "W" in dom and dom != "LW":
        raise _bad(text, "W in day-of-month is supported only as LW (the last weekday)")
    return (
        " ".join((minutes, hours, "*" if dom == "?" else dom, month, _day_of_week(text, dow))),
        _years(text, year),
    )


def _day_of_week(text: str, dow: str) -> str:
    """EventBridge's day-of-week (1-7 = SUN-SAT, or names) as cron's (0-6 = SUN-SAT)."""
    if dow == "?":
        return "*"
    if dow == "L":  # the last day of the week
        return "6"

    def shift(number: re.Match[str]) -> str:
        day = int(number.group())
        if not 1 <= day <= 7:
            raise _bad(text, f"day-of-week {day} is not 1-7 (SUN-SAT)")
        return str(day - 1)

    return _DAY_NUMBER.sub(shift, dow)


def _years(text: str, spec: str) -> frozenset[int] | None:
    if spec == "*":
        return None
    years: set[int] = set()
    for term in spec.split(","):
        found = _YEAR_TERM.fullmatch(term)
        if found is None:
            raise _bad(
                text, f"year {show(term)} is not a year, a range or a step (2026, 2026-2030, */2)"
            )
        first = _FIRST_YEAR if found.group(1) == "*" else int(found.group(1))
        last = int(
            found.group(2) or (_LAST_YEAR if found.group(1) == "*" or found.group(3) else first)
        )
        step = int(found.group(3) or 1)
        if not _FIRST_YEAR <= first <= last <= _LAST_YEAR or step < 1:
            raise _bad(text, f"year {show(term)} must lie within {_FIRST_YEAR}-{_LAST_YEAR}")
        years.update(range(first, last + 1, step))
    return frozenset(years)


def _bad(text: str, problem: str) -> InvalidInput:
    return InvalidInput(f"--schedule {show(text)}: {problem}", hint=_HINT)


# -- zones -------------------------------------------------------------------------------


def _zone(name: str, rules: bytes | None) -> tzinfo:
    if name == "UTC":
        return UTC
    offset = _OFFSET.fullmatch(name)
    if offset is not None:
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta >= timedelta(hours=24) or int(minutes) >= 60:
            raise InvalidInput(f"--time-zone {show(name)} is not an offset", hint=_ZONE_HINT)
        return timezone(-delta if sign == "-" else delta)
    if rules is not None:
        return _zone_from_rules(name, rules)
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(
            f"--time-zone {show(name)} is not a time zone this machine knows", hint=_ZONE_HINT
        ) from None


@functools.lru_cache(maxsize=64)
def _zone_from_rules(name: str, rules: bytes) -> tzinfo:
    return zoneinfo.ZoneInfo.from_file(io.BytesIO(rules), key=name)


def _zone_rules(name: str) -> bytes | None:
    """The TZif file zoneinfo.ZoneInfo(name) reads, found where it looks: the system's
    tz database, then the tzdata package. None for UTC and offsets, which need none."""
    if name == "UTC" or _OFFSET.fullmatch(name):
        return None
    _zone(name, None)  # an unknown or malformed name is refused here
    for root in zoneinfo.TZPATH:
        path = Path(root, name)
        if path.is_file():
            return path.read_bytes()
    try:
        resource = importlib.resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
        return resource.read_bytes()
    except (ModuleNotFoundError, OSError):
        return None


def _as_utc(moment: datetime) -> datetime:
    """`moment` in UTC: an aware time in a zone compares unequal to every other zone's
    while its wall time is ambiguous, whatever its fold; in UTC it compares as an instant."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone; give an aware datetime")
    return moment.astimezone(UTC)
