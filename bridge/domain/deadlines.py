"""Every run ends (DESIGN.md §3.3): how long a run may wait for its results.

A job's result is due, at the latest, when its invocation has waited out the longest
time Lambda keeps an asynchronous event queued (the event age), been tried
`max_attempts` times of `timeout` each with Lambda's waits between tries, and its
destination record has gone through the recorder's batching. A paced run also needs
`jobs / max_rate` seconds to hand its jobs over. Past that deadline nothing more can be
coming except through a loss (a destination record Lambda could not deliver, an event
in a dead-letter queue), so the jobs without a result are sent once more, and after as
long again, whatever still has none is recorded as lost and the run ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.domain.controls import Controls

__all__ = ["LAMBDA_EVENT_AGE", "LAMBDA_RETRY_WAITS", "Timing", "attempt_span", "run_deadline"]

#: Lambda keeps an asynchronous event up to 6 hours (the module sets this maximum):
#: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html
LAMBDA_EVENT_AGE = 6 * 3600.0
#: Lambda waits about a minute before the second try and two before the third:
#: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
LAMBDA_RETRY_WAITS = (60.0, 120.0)


@dataclass(frozen=True)
class Timing:
    """What the runtime adds to a group's own controls."""

    event_age: float = LAMBDA_EVENT_AGE
    #: the results queue's batching window, plus its visibility timeout: how late a
    #: result reaches the ledger when its first batch failed
    recording_delay: float = 362.0
    retry_waits: tuple[float, ...] = LAMBDA_RETRY_WAITS


def attempt_span(controls: Controls, timing: Timing) -> float:
    """Seconds from handing a job over until its result must have been recorded."""
    if controls.deadline is not None:
        return controls.deadline
    waits = sum(timing.retry_waits[: controls.max_attempts - 1])
    return (
        controls.timeout * controls.max_attempts + waits + timing.event_age + timing.recording_delay
    )


def run_deadline(start: datetime, controls: Controls, jobs: int, timing: Timing) -> datetime:
    """When a run (or a redrive, or a resend) of `jobs` jobs started at `start` is overdue."""
    if controls.deadline is not None:
        return start + timedelta(seconds=controls.deadline)
    handing_over = jobs / controls.max_rate if controls.max_rate else 0.0
    return start + timedelta(seconds=handing_over + attempt_span(controls, timing))
