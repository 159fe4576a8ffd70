"""Which result of a job stands, and what a run's results add up to (DESIGN.md §3.3).

A job's result may be stored more than once: a worker invoked twice reports twice,
SQS may deliver a record twice, a redrive reports the job again. Counting is counting
distinct jobs: per job, the result of the highest attempt stands; within an attempt a
success stands over a failure (a duplicate invocation can fail where the first one
succeeded, with its effect done), a failure over `lost`, and the earliest over later ones.

At attempt n (n - 1 redrives), a job is settled when it has succeeded at any attempt or
has a result of attempt n. A run is complete when every job is settled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bridge.domain.results import JobResult, JobStatus

__all__ = ["Tally", "is_settled", "standing_results", "tally"]


def standing_results(results: Iterable[JobResult]) -> dict[str, JobResult]:
    """Per job id, the result that stands."""
    standing: dict[str, JobResult] = {}
    for result in results:
        current = standing.get(result.ref.job_id)
        if current is None or _order(result) > _order(current):
            standing[result.ref.job_id] = result
    return standing


def is_settled(result: JobResult, attempt: int) -> bool:
    return result.status is JobStatus.SUCCEEDED or result.ref.attempt >= attempt


@dataclass(frozen=True)
class Tally:
    total: int
    succeeded: int
    failed: int
    lost: int
    finished_at: datetime | None  # when the last settled job finished

    @property
    def settled(self) -> int:
        return self.succeeded + self.failed + self.lost

    @property
    def missing(self) -> int:
        return max(0, self.total - self.settled)

    @property
    def complete(self) -> bool:
        return self.settled >= self.total


def tally(standing: Mapping[str, JobResult], *, total: int, attempt: int) -> Tally:
    counts = {status: 0 for status in JobStatus}
    last: datetime | None = None
    for result in standing.values():
        if not is_settled(result, attempt):
            continue
        counts[result.status] += 1
        if last is None or result.finished_at > last:
            last = result.finished_at
    return Tally(
        total=total,
        succeeded=counts[JobStatus.SUCCEEDED],
        failed=counts[JobStatus.FAILED],
        lost=counts[JobStatus.LOST],
        finished_at=last,
    )


def _order(result: JobResult) -> tuple[int, int, float, str]:
    return (
        result.ref.attempt,
        result.status.rank,
        -result.finished_at.timestamp(),
        result.error,
    )
