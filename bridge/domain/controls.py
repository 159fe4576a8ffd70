"""Per-group controls (DESIGN.md §4) and the decision a trigger gets from them."""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass
from typing import Any

from bridge.domain.tolerance import NO_TOLERANCE, Tolerance, tolerance_from_json
from bridge.exceptions import InvalidInput

__all__ = [
    "MAX_ATTEMPTS_LIMIT",
    "MAX_DURATION_SECONDS",
    "MAX_TIMEOUT_SECONDS",
    "Controls",
    "Overlap",
    "parse_overlap",
]

#: Lambda's asynchronous invocation makes at most 3 attempts (1 + 2 retries); the
#: local runtime keeps the same limit so a group behaves the same in both.
MAX_ATTEMPTS_LIMIT = 3
#: Lambda's longest function timeout.
MAX_TIMEOUT_SECONDS = 900.0
#: The longest min_interval, max_lateness or deadline: a year, leap day included. More
#: is a typo (a deadline that far out would not even fit a date).
MAX_DURATION_SECONDS = 366 * 86400.0
_DURATION_HINT = "write a duration such as 90s, 5m, 1h30m or 2d, at most 366d"


class Overlap(enum.StrEnum):
    """What a trigger does while the group's previous run is still running."""

    ALLOW = "allow"
    SKIP = "skip"
    REPLACE = "replace"


@dataclass(frozen=True)
class Controls:
    max_rate: float | None = None  # worker invocations per second across the group
    max_concurrency: int | None = None  # concurrent worker executions
    overlap: Overlap = Overlap.SKIP
    min_interval: float | None = None  # seconds
    max_lateness: float | None = None  # seconds
    max_attempts: int = MAX_ATTEMPTS_LIMIT
    timeout: float = 300.0  # seconds per job attempt
    #: seconds from a run's start until the jobs without a result are sent once more,
    #: and as long again until those still without one are recorded as lost; None
    #: derives it from the other controls (bridge.domain.deadlines)
    deadline: float | None = None
    #: failed and lost jobs a run may have and still succeed (bridge.domain.tolerance)
    tolerated_failures: Tolerance = NO_TOLERANCE

    def __post_init__(self) -> None:
        if self.max_rate is not None and not (math.isfinite(self.max_rate) and self.max_rate > 0):
            raise InvalidInput(
                f"max_rate must be more than 0 per second, and finite, not {self.max_rate:g}",
                hint="give jobs a second, e.g. --max-rate 100; leave it out for no limit",
            )
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise InvalidInput(
                f"max_concurrency must be 1 or more, not {self.max_concurrency}",
                hint="leave it out for no limit",
            )
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS_LIMIT:
            raise InvalidInput(
                f"max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}, not {self.max_attempts}",
                hint="Lambda retries an asynchronous invocation at most twice",
            )
        if not 0 < self.timeout <= MAX_TIMEOUT_SECONDS:
            raise InvalidInput(
                f"timeout must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g} seconds"
                f" (Lambda's limit), not {self.timeout:g}",
                hint="e.g. --timeout 5m; a longer job must be split, or run elsewhere",
            )
        if self.deadline is not None and not self.deadline > 0:
            raise InvalidInput(
                f"deadline must be more than 0 seconds, not {self.deadline:g}",
                hint="leave it out to derive it from timeout and max_attempts",
            )
        for name in ("min_interval", "max_lateness"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise InvalidInput(
                    f"{name} must be zero or more seconds, not {value:g}", hint=_DURATION_HINT
                )
        for name in ("min_interval", "max_lateness", "deadline"):
            value = getattr(self, name)
            if value is not None and value > MAX_DURATION_SECONDS:
                raise InvalidInput(
                    f"{name} must be at most 366 days ({MAX_DURATION_SECONDS:.0f} seconds),"
                    f" not {value:g} seconds",
                    hint=_DURATION_HINT,
                )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["overlap"] = self.overlap.value
        data["tolerated_failures"] = str(self.tolerated_failures)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Controls:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in ("min_interval", "max_lateness", "deadline"):
            # Registered before durations were bounded: such a group still loads, at the bound.
            if isinstance(known.get(name), int | float) and known[name] > MAX_DURATION_SECONDS:
                known[name] = MAX_DURATION_SECONDS
        if "overlap" in known:
            known["overlap"] = parse_overlap(str(known["overlap"]))
        # A group registered before tolerances has none: any failed job fails its run.
        known["tolerated_failures"] = tolerance_from_json(known.get("tolerated_failures"))
        return cls(**known)


def parse_overlap(text: str) -> Overlap:
    try:
        return Overlap(text)
    except ValueError:
        choices = ", ".join(o.value for o in Overlap)
        raise InvalidInput(
            f"overlap must be one of {choices}, not {text!r}",
            hint="allow runs anyway, skip records the trigger as skipped, replace cancels the"
            " old run",
        ) from None
