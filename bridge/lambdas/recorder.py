"""The recorder Lambda: batches of the workers' destination records in, results counted.

The workers' success and failure destinations send each record to the results queue;
an SQS event source mapping hands this function batches of them (up to the mapping's
batch size, gathered over its batching window). Every readable result is recorded
once, however often it arrives; a record that cannot be read is logged and rejected
(retrying it would not make it readable), and never fails its batch. If one run's
results cannot be stored (DynamoDB throttled them, say), only their messages are
reported back (`batchItemFailures`, with ReportBatchItemFailures on the mapping), and
SQS delivers them again after the queue's visibility timeout.

A lone destination record as the event (a worker whose destination is still this
function, from before the results queue) is recorded the same way; its failure fails
the invocation, so Lambda retries it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.aws.runtime import AwsRuntime
from bridge.exceptions import Unavailable
from bridge.lambdas._shared import container_runtime, log_decision, log_metrics
from bridge.usecases.record import record_destination_batch

__all__ = ["handler", "make_handler"]


def make_handler(get_runtime: Callable[[], AwsRuntime]) -> Callable[[Any, Any], dict[str, Any]]:
    def record(event: Any, context: Any) -> dict[str, Any]:
        runtime = get_runtime()
        outcome = record_destination_batch(event, ledger=runtime.ledger)
        report = outcome.report
        for message_id, why in outcome.rejected:
            log_decision("record rejected", message_id=message_id, reason=why)
        log_decision(
            "results recorded",
            counted=report.counted,
            duplicates=report.duplicates,
            stale=report.stale,
            late=report.late,
            unknown_run=report.unknown,
            rejected=len(outcome.rejected),
            retried=len(outcome.failures),
            finished=report.finished,
        )
        log_metrics(
            runtime.settings.ledger_table,
            ResultsCounted=report.counted,
            ResultsRejected=len(outcome.rejected) + report.unknown,
        )
        if report.failed_runs and not _is_batch(event):
            raise Unavailable(f"could not record results of {sorted(report.failed_runs)}")
        return outcome.response()

    return record


def _is_batch(event: Any) -> bool:
    return isinstance(event, dict) and isinstance(event.get("Records"), list)


handler = make_handler(container_runtime)
