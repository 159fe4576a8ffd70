"""What the ledger knows of a run's jobs, for `runs show` and scripts."""

from __future__ import annotations

from bridge.domain.results import JobResult
from bridge.domain.tally import standing_results
from bridge.exceptions import RunNotFound
from bridge.ports import Ledger

__all__ = ["job_results"]


def job_results(
    ledger: Ledger, run_id: str, status: str | None = None, limit: int | None = None
) -> list[JobResult]:
    """Each job's standing result, by list and job id; only `status` ones if given."""
    run = ledger.get_run(run_id)
    if run is None:
        raise RunNotFound(f"run {run_id!r} is not in the ledger", hint="see `cronbridge runs list`")
    standing = standing_results(ledger.stored_results(run))
    chosen = sorted(
        (r for r in standing.values() if status is None or r.status.value == status),
        key=lambda r: (r.ref.list_name, r.ref.job_id),
    )
    return chosen if limit is None else chosen[:limit]
