"""The recorder: batches of job results in, each job counted exactly once, runs ended.

Results come from Lambda's destination records (through the results queue), from the
worker helper consuming `sqs:` batches, and from publishers POSTing to `http:` targets;
all go through `record_results`. Per run, the batch's results are deduplicated, stored
as compact chunks (bridge.domain.chunks), and then added to the run's progress
counters. Counters may run ahead of the truth (a result delivered twice, a batch
recorded twice) but never behind it; when they say the run may be complete, an exact
recount of the stored results decides, and ends the run.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.domain.chunks import make_chunks
from bridge.domain.events import end_events
from bridge.domain.results import JobResult, results_from_sqs_event
from bridge.domain.runs import RunState, final_state
from bridge.domain.tally import standing_results, tally
from bridge.ports import Ledger

__all__ = [
    "BatchOutcome",
    "RecordReport",
    "record_destination_batch",
    "record_results",
    "settle_run",
]

log = logging.getLogger("cronbridge.record")


@dataclass
class RecordReport:
    counted: int = 0  # results stored and added to the counters
    duplicates: int = 0  # the same job twice in this batch
    stale: int = 0  # of an attempt the run has moved past (a redrive started since)
    late: int = 0  # for a run that has ended
    unknown: int = 0  # naming a run the ledger does not have
    failed_runs: set[str] = field(default_factory=set)  # could not be stored: retry them
    finished: list[str] = field(default_factory=list)  # runs these results ended


def record_results(results: Sequence[JobResult], *, ledger: Ledger) -> RecordReport:
    """Record a batch. An error storing one run's results fails only that run's results
    (named in `failed_runs`); the others are recorded."""
    report = RecordReport()
    by_run: dict[str, list[JobResult]] = defaultdict(list)
    for result in results:
        by_run[result.ref.run_id].append(result)
    for run_id, batch in by_run.items():
        try:
            _record_run(run_id, batch, ledger, report)
        except Exception:  # one run's storage failure must not fail the others
            log.exception("could not record results", extra={"run": run_id, "results": len(batch)})
            report.failed_runs.add(run_id)
    return report


@dataclass(frozen=True)
class BatchOutcome:
    report: RecordReport
    rejected: list[tuple[str, str]]  # (message id, why): not results; logged, never retried
    failures: list[str]  # message ids to hand back to the queue (their run failed to store)

    def response(self) -> dict[str, Any]:
        """The answer an SQS event source mapping reads (ReportBatchItemFailures)."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.failures]}


def record_destination_batch(event: Any, *, ledger: Ledger) -> BatchOutcome:
    """An SQS batch of destination records (or one record) in: every readable result
    recorded; what cannot be read is rejected, and never fails its neighbours."""
    results, rejected = results_from_sqs_event(event)
    for message_id, why in rejected:
        log.warning("record rejected", extra={"message_id": message_id, "reason": why})
    report = record_results([result for _, result in results], ledger=ledger)
    failures = [
        message_id
        for message_id, result in results
        if result.ref.run_id in report.failed_runs and message_id
    ]
    return BatchOutcome(report, rejected, failures)


def _record_run(run_id: str, batch: list[JobResult], ledger: Ledger, report: RecordReport) -> None:
    run = ledger.get_run(run_id)
    if run is None:
        report.unknown += len(batch)
        return
    if run.state not in (RunState.RUNNING, RunState.CANCELLED):
        report.late += len(batch)
        return
    current = [r for r in batch if r.ref.attempt == run.attempt]
    report.stale += len(batch) - len(current)
    best = standing_results(current)
    counted = ledger.append_results(run_id, make_chunks(list(best.values())))
    report.counted += counted
    report.duplicates += len(current) - counted
    if run.state is RunState.RUNNING and settle_run(run_id, ledger=ledger):
        report.finished.append(run_id)


def settle_run(run_id: str, *, ledger: Ledger, force: bool = False) -> bool:
    """End the run if every job is settled; True if this call ended it.

    Without `force`, only when the counters say it may be complete: an exact recount
    reads every stored result of the run.
    """
    if not force and not ledger.progress(run_id).recount_due:
        return False
    run = ledger.get_run(run_id)
    if run is None or run.state is not RunState.RUNNING:
        return False
    before = ledger.progress(run_id)
    standing = standing_results(ledger.stored_results(run))
    counts = tally(standing, total=run.total, attempt=run.attempt)
    if not counts.complete:
        ledger.note_recount(run_id, before.counted, counts.missing)
        return False
    state = final_state(
        counts.total, counts.succeeded, counts.failed, counts.lost, tolerance=run.tolerance
    )
    assert state is not None
    at = counts.finished_at or run.opened_at
    failed = state is RunState.FAILED
    events = end_events(run_id, run.group, run.attempt, failed, counts, standing, at)
    return ledger.finish_run(run_id, run.attempt, state, counts, at, events)
