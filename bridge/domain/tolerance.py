"""Tolerated failures: how many failed and lost jobs a run may have and still succeed.

A group's `tolerated_failures` is a count (`3`) or a share of the run's jobs (`2.5%`),
read as Step Functions reads a Distributed Map's ToleratedFailureCount and
ToleratedFailurePercentage
(https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html):
"your Map Run fails automatically if it exceeds the threshold", and "Step Functions
calculates the percentage of failed items as the result of the total number of failed
or timed out items divided by the total number of items. You must specify a value
between zero and 100." So a run fails only when its failed + lost jobs are MORE than
the count, or more than the percentage of all its jobs: equal to the tolerance still
succeeds. Lost jobs are our timed-out items. The default, 0, fails a run on any one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from bridge.exceptions import InvalidInput

__all__ = ["NO_TOLERANCE", "Tolerance", "parse_tolerance", "tolerance_from_json"]

_HINT = (
    "give a number of jobs or a percentage of the run's jobs, e.g. --tolerated-failures 5"
    " or --tolerated-failures 2.5%"
)


@dataclass(frozen=True)
class Tolerance:
    """At most `count` failed and lost jobs, or with `percent`, at most that share of
    the run's jobs (then `count` is unused)."""

    count: int = 0
    percent: float | None = None

    def __post_init__(self) -> None:
        if self.percent is not None:
            if not (math.isfinite(self.percent) and 0 <= self.percent <= 100):
                raise InvalidInput(
                    "tolerated failures must be a percentage from 0% to 100%,"
                    f" not {_decimal(self.percent)}%",
                    hint=_HINT,
                )
        elif self.count < 0:
            raise InvalidInput(
                f"tolerated failures must be 0 or more jobs, not {self.count}", hint=_HINT
            )

    @property
    def zero(self) -> bool:
        """Tolerates no failed job at all (the default)."""
        return not (self.count if self.percent is None else self.percent)

    def allows(self, failed: int, total: int) -> bool:
        """Whether `failed` (failed and lost) of `total` jobs are within the tolerance."""
        if self.percent is None:
            return failed <= self.count
        # Exact: 0.3% of 1,000 jobs tolerates 3 jobs, where floats would say 2.9999...
        return failed * 100 <= Fraction(repr(self.percent)) * total

    def __str__(self) -> str:
        """The form --tolerated-failures takes, and the manifest and the ledger keep."""
        if self.percent is None:
            return str(self.count)
        return f"{_decimal(self.percent)}%"


#: the default: any failed or lost job fails its run
NO_TOLERANCE = Tolerance()


def _decimal(value: float) -> str:
    """The shortest text that reads back as `value`: 2.5, 100 (not 100.0)."""
    return repr(value).removesuffix(".0")


def parse_tolerance(text: str) -> Tolerance:
    """`N` (jobs) or `P%` (of the run's jobs, P from 0 to 100, decimals allowed)."""
    shown = text.strip()
    percent = shown.endswith("%")
    number = shown[:-1].strip() if percent else shown
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidInput(
            f"tolerated failures must be a number of jobs or a percentage, not {shown!r}",
            hint=_HINT,
        )
    if value < 0:
        raise InvalidInput(f"tolerated failures must be 0 or more, not {shown}", hint=_HINT)
    if percent:
        return Tolerance(percent=value)
    if not (number.isascii() and number.isdigit()):
        raise InvalidInput(
            f"tolerated failures must be a whole number of jobs, not {shown}",
            hint=f"{_HINT}; {shown}% is a percentage",
        )
    return Tolerance(count=int(number))


def tolerance_from_json(value: Any) -> Tolerance:
    """As a manifest or a ledger keeps it: "3" or "2.5%" (a bare number is a count);
    none at all (a group or run from before tolerances) is 0."""
    if value is None or value == "":
        return NO_TOLERANCE
    if isinstance(value, bool):
        raise InvalidInput(f"tolerated failures must be a number, not {value}", hint=_HINT)
    if isinstance(value, int):
        return Tolerance(count=value)
    return parse_tolerance(str(value))
