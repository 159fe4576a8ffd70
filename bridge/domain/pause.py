"""A group's pause: a property of the group, not of a version (issue 13, item 4).

It is stored in the group's `current` pointer beside the version number,
`{"version": 3, "paused": {"since": T, "until": T | null}}`, so the dispatcher learns it
from the one read of the pointer it makes anyway, re-registering (which moves the
pointer) keeps it, and versions stay immutable. A pause with `until` ends by itself:
nothing has to run at that time, a trigger after it is simply not paused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bridge.domain._show import show
from bridge.domain.durations import parse_duration
from bridge.domain.triggers import format_time, parse_time
from bridge.exceptions import InvalidInput

__all__ = ["PAUSED", "GroupHead", "Pause", "decode_head", "encode_head", "parse_until"]

#: the reason a trigger of a paused group is recorded as skipped with
PAUSED = "paused"
_UNTIL_HINT = "give a duration such as 2h or 1d12h, or a time such as 2026-01-01T03:00:00Z"


@dataclass(frozen=True)
class Pause:
    since: datetime
    until: datetime | None = None  # None: until `groups resume`

    def covers(self, moment: datetime) -> bool:
        """Whether the group is paused at `moment`: what a trigger arriving then, or a
        slot due then (for missed-slot records and alerts), asks."""
        return self.since <= moment and (self.until is None or moment < self.until)

    def describe(self) -> str:
        """ "paused since T" or "paused until T", as a person reads it."""
        if self.until is None:
            return f"paused since {format_time(self.since)}"
        return f"paused until {format_time(self.until)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": format_time(self.since),
            "until": None if self.until is None else format_time(self.until),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pause:
        until = data.get("until")
        return cls(
            since=parse_time(data["since"], "paused.since"),
            until=None if until is None else parse_time(until, "paused.until"),
        )


@dataclass(frozen=True)
class GroupHead:
    """A group's `current` pointer: its current version and its pause, if any."""

    version: int
    pause: Pause | None = None

    def paused_at(self, moment: datetime) -> Pause | None:
        """The pause in force at `moment`, or None (never paused, resumed, or past its
        `until`)."""
        return self.pause if self.pause is not None and self.pause.covers(moment) else None


def encode_head(head: GroupHead) -> str:
    """The pointer's text; an unpaused group's is `{"version": N}` as it always was."""
    data: dict[str, Any] = {"version": head.version}
    if head.pause is not None:
        data["paused"] = head.pause.to_dict()
    return json.dumps(data)


def decode_head(data: dict[str, Any]) -> GroupHead:
    paused = data.get("paused")
    return GroupHead(
        version=int(data["version"]),
        pause=None if not isinstance(paused, dict) else Pause.from_dict(paused),
    )


def parse_until(text: str, now: datetime, *, option: str = "--until") -> datetime:
    """`--until`: a duration from `now` (`2h`, as every duration option reads it) or an
    RFC 3339 time (as --scheduled-time reads it); InvalidInput unless it is after `now`."""
    try:
        until = now + timedelta(seconds=parse_duration(text, option=option))
    except InvalidInput:
        try:
            until = parse_time(text.strip(), option)
        except InvalidInput:
            raise InvalidInput(
                f"{option}: cannot read {show(text)} as a duration or a time", hint=_UNTIL_HINT
            ) from None
    except OverflowError:
        raise InvalidInput(f"{option}: {show(text)} is too far away", hint=_UNTIL_HINT) from None
    if until <= now:
        raise InvalidInput(
            f"{option} {show(text)} is not in the future ({format_time(until)}, now is"
            f" {format_time(now)})",
            hint=_UNTIL_HINT,
        )
    return until
