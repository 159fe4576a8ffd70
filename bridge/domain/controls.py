"""Per-group controls (DESIGN.md §4) and the decision a trigger gets from them."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

from bridge.exceptions import InvalidInput

__all__ = ["MAX_ATTEMPTS_LIMIT", "MAX_TIMEOUT_SECONDS", "Controls", "Overlap", "parse_overlap"]

#: Lambda's asynchronous invocation makes at most 3 attempts (1 + 2 retries); the
#: local runtime keeps the same limit so a group behaves the same in both.
MAX_ATTEMPTS_LIMIT = 3
#: Lambda's longest function timeout.
MAX_TIMEOUT_SECONDS = 900.0


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

    def __post_init__(self) -> None:
        if self.max_rate is not None and not self.max_rate > 0:
            raise InvalidInput(f"max_rate must be more than 0 per second, not {self.max_rate}")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise InvalidInput(f"max_concurrency must be 1 or more, not {self.max_concurrency}")
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS_LIMIT:
            raise InvalidInput(
                f"max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}, not {self.max_attempts}",
                hint="Lambda retries an asynchronous invocation at most twice",
            )
        if not 0 < self.timeout <= MAX_TIMEOUT_SECONDS:
            raise InvalidInput(
                f"timeout must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g} seconds"
                f" (Lambda's limit), not {self.timeout:g}"
            )
        if self.deadline is not None and not self.deadline > 0:
            raise InvalidInput(f"deadline must be more than 0 seconds, not {self.deadline:g}")
        for name in ("min_interval", "max_lateness"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InvalidInput(f"{name} must be zero or more seconds, not {value}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["overlap"] = self.overlap.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Controls:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "overlap" in known:
            known["overlap"] = parse_overlap(str(known["overlap"]))
        return cls(**known)


def parse_overlap(text: str) -> Overlap:
    try:
        return Overlap(text)
    except ValueError:
        choices = ", ".join(o.value for o in Overlap)
        raise InvalidInput(f"overlap must be one of {choices}, not {text!r}") from None
