"""Run events that alerts are sent for (issue 13): what happened to which run, once.

The ledger keeps each event once per (run, attempt, kind), in the same write as the
change it reports where there is one (a run ending failed, a missed slot recorded, a
late run opened), and holds it in an outbox until the sweep has delivered it to every
alert that wants it (bridge.usecases.alerts). So a run that fails alerts once, however
its results arrive, and a redrive that fails again (a new attempt) alerts again.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge.domain.results import JobResult, JobStatus
from bridge.domain.tally import Tally, is_settled
from bridge.domain.triggers import format_time

__all__ = ["MAX_ERRORS", "EventKind", "JobError", "PendingEvent", "RunEvent", "end_events"]

#: how many of a run's failed jobs an event names
MAX_ERRORS = 5
_MAX_ERROR_TEXT = 500


class EventKind(enum.StrEnum):
    FAILED = "failed"  # a run ended failed
    LOST = "lost"  # a run ended with jobs recorded lost
    MISSED = "missed"  # a slot of the group's schedule passed with no trigger
    LATE = "late"  # a slot's trigger came after its slot tolerance
    STUCK = "stuck"  # a run passed its deadline with jobs still without a result


@dataclass(frozen=True)
class JobError:
    list_name: str
    job_id: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"list": self.list_name, "job": self.job_id, "error": self.error}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobError:
        return cls(str(data["list"]), str(data["job"]), str(data["error"])[:_MAX_ERROR_TEXT])

    @classmethod
    def of(cls, list_name: str, job_id: str, error: str) -> JobError:
        return cls(list_name, job_id, error[:_MAX_ERROR_TEXT])


@dataclass(frozen=True)
class RunEvent:
    kind: EventKind
    run_id: str
    group: str
    attempt: int
    at: datetime
    #: a few words on it, e.g. "no trigger came within slot_tolerance 5m"
    detail: str = ""
    #: the first failed (or lost) jobs, at most MAX_ERRORS
    errors: tuple[JobError, ...] = ()

    @property
    def key(self) -> str:
        """One event per run, attempt and kind."""
        return f"{self.run_id}#{self.attempt}#{self.kind}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "run": self.run_id,
            "group": self.group,
            "attempt": self.attempt,
            "at": format_time(self.at),
            "detail": self.detail,
            "errors": [e.to_dict() for e in self.errors],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunEvent:
        return cls(
            kind=EventKind(data["kind"]),
            run_id=str(data["run"]),
            group=str(data["group"]),
            attempt=int(data["attempt"]),
            at=datetime.fromisoformat(str(data["at"])),
            detail=str(data.get("detail", "")),
            errors=tuple(JobError.from_dict(e) for e in data.get("errors") or ()),
        )


@dataclass(frozen=True)
class PendingEvent:
    """An event in the outbox: not yet delivered to every alert that wants it."""

    event: RunEvent
    tries: int = 0
    next_try: datetime | None = None  # None: due now
    #: alert ids still to deliver to; None until the first delivery decided them
    targets: tuple[str, ...] | None = field(default=None)
    last_error: str = ""


def end_events(
    run_id: str,
    group: str,
    attempt: int,
    failed_run: bool,
    counts: Tally,
    standing: Mapping[str, JobResult],
    at: datetime,
) -> list[RunEvent]:
    """What a run's end is reported as: `failed` if it ended failed, `lost` if some of its
    jobs were recorded lost; each naming its first failed (or lost) jobs, by list and id."""
    kinds = [EventKind.FAILED] if failed_run else []
    if counts.lost:
        kinds.append(EventKind.LOST)
    if not kinds:
        return []
    bad = (
        r
        for r in standing.values()
        if r.status is not JobStatus.SUCCEEDED and is_settled(r, attempt)
    )
    first = heapq.nsmallest(
        MAX_ERRORS, bad, key=lambda r: (r.status is JobStatus.LOST, r.ref.list_name, r.ref.job_id)
    )
    errors = tuple(JobError.of(r.ref.list_name, r.ref.job_id, r.error) for r in first)
    detail = f"{counts.failed:,} failed, {counts.lost:,} lost of {counts.total:,}"
    return [RunEvent(kind, run_id, group, attempt, at, detail, errors) for kind in kinds]
