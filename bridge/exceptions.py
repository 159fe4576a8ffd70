"""Every error cronbridge raises on purpose, under one root.

    CronbridgeError                 exit code 2 unless a subclass says otherwise
    ├── InvalidInput                a value the user gave is wrong (names, bodies, options)
    │   ├── InvalidTrigger          a trigger key or body cannot start a run
    │   ├── InvalidJobList          job lists with bad lines; `.problems` holds every one
    │   └── InvalidTarget           a target that cannot be parsed, imported or reached
    ├── NotFound
    │   ├── GroupNotFound
    │   └── RunNotFound
    ├── Conflict                    someone else changed the same thing first (retry)
    ├── Unavailable                 a service we need is not there (exit code 1)
    └── RunFailed                   a run ended with failed jobs (exit code 1)

Messages say what was wrong and what to do; they never carry a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Conflict",
    "CronbridgeError",
    "GroupNotFound",
    "InvalidInput",
    "InvalidJobList",
    "InvalidTarget",
    "InvalidTrigger",
    "LineProblem",
    "NotFound",
    "RunFailed",
    "RunNotFound",
    "Unavailable",
]


class CronbridgeError(Exception):
    """Root of every error cronbridge raises on purpose."""

    exit_code = 2
    #: a short machine-readable reason, used in logs and HTTP answers
    code = "Error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InvalidInput(CronbridgeError):
    code = "InvalidInput"


class InvalidTrigger(InvalidInput):
    code = "InvalidTrigger"


@dataclass(frozen=True)
class LineProblem:
    """One bad line of a job list: where it is and what is wrong with it. Line 0 is the
    list as a whole: one without a single job."""

    list_name: str
    line: int
    problem: str

    def __str__(self) -> str:
        if self.line == 0:
            return f"list {self.list_name!r}: {self.problem}: the file is empty or has only blank lines"
        return f"list {self.list_name!r} line {self.line}: {self.problem}"


class InvalidJobList(InvalidInput):
    code = "InvalidJobList"

    def __init__(self, problems: Sequence[LineProblem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"the job lists have {count:,} {noun}; nothing was registered",
            hint="fix every line listed and register again",
        )


class InvalidTarget(InvalidInput):
    code = "InvalidTarget"


class NotFound(CronbridgeError):
    code = "NotFound"


class GroupNotFound(NotFound):
    code = "NoSuchGroup"


class RunNotFound(NotFound):
    code = "NoSuchRun"


class Conflict(CronbridgeError):
    code = "Conflict"


class Unavailable(CronbridgeError):
    exit_code = 1
    code = "Unavailable"


class RunFailed(CronbridgeError):
    exit_code = 1
    code = "RunFailed"
