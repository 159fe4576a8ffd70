"""Durations as users write them: "90", "90s", "5m", "1h30m", "2d"."""

from __future__ import annotations

import re

from bridge.exceptions import InvalidInput

__all__ = ["describe_span", "format_duration", "parse_duration"]

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, *, option: str = "duration") -> float:
    """Seconds in `text`; a bare number is seconds."""
    raw = text.strip().lower()
    try:
        seconds = float(raw)
    except ValueError:
        pos, seconds = 0, 0.0
        for match in _PART.finditer(raw):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(raw) or not raw:
            raise InvalidInput(
                f"{option}: cannot read {text!r} as a duration",
                hint="write seconds (90) or a duration such as 90s, 5m, 1h30m, 2d",
            ) from None
    if not seconds >= 0 or seconds == float("inf"):
        raise InvalidInput(f"{option}: {text!r} must be zero or more seconds")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds < 60 or seconds % 60:
        return f"{seconds:g}s"
    minutes = int(seconds // 60)
    if minutes % 60:
        return f"{minutes}m"
    return f"{minutes // 60}h"


def describe_span(seconds: float) -> str:
    """A span as a person reads it, in its largest unit and the next: "2h 3m", "1d 4h",
    "45s" (what is smaller is left out)."""
    left = max(0, round(seconds))
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    first = next(i for i, (_, size) in enumerate(units) if left >= size or size == 1)
    parts = []
    for unit, size in units[first : first + 2]:
        if left // size:
            parts.append(f"{left // size}{unit}")
        left %= size
    return " ".join(parts) or "0s"
