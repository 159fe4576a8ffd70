"""The worker helper: wrap your handler, get one effect per (run, job).

    from publishers.worker import cronbridge_worker

    @cronbridge_worker
    def handler(payload, job):
        charge(payload["customer"])          # runs once per job of a run
        return {"charged": True}

Lambda's asynchronous invocation is at least once: the same job can arrive twice.
Before running your function the helper claims (run, job) with a conditional write.
A second invocation that finds the job done returns the first one's result without
running it again; one that finds it still running waits for the first to finish (or
to fail and release it) while its own time allows, and otherwise fails so Lambda tries
it again later. Raising from your function releases the claim: the next attempt runs it.

A claim lasts as long as the attempt holding it may run: until its deadline
(`context.get_remaining_time_in_millis()`) and LEASE_MARGIN_SECONDS more, or
LEASE_SECONDS without a context. An attempt that finds a claim past that, or (under
`cronbridge serve`) one whose process is gone, takes it over and runs the job: a
killed attempt does not hold its job for longer than it could have run. The one effect
that can happen twice is one whose attempt died after the effect and before marking the
claim done.

Claims live in the run ledger (publishers.claims): DynamoDB when
`CRONBRIDGE_LEDGER_TABLE` is set (the worker's role needs
PutItem/GetItem/UpdateItem/DeleteItem on it), otherwise the local SQLite ledger in
`$CRONBRIDGE_HOME`. Each claim has a partition key of its own, so a big run's claims
spread over the table. Standard library and boto3 only.

Without the helper, a raw handler receives the envelope `{"cronbridge": {...},
"payload": ...}` and must itself be idempotent.
"""

from __future__ import annotations

import functools
import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from bridge.domain.results import (
    JobRef,
    JobResult,
    JobStatus,
    bound_output,
    bound_text,
    parse_envelope,
)
from bridge.exceptions import InvalidInput
from bridge.ports import Ledger
from publishers.claims import LEASE_SECONDS, default_claims
from publishers.claims import Claim as Claim
from publishers.claims import ClaimStore as ClaimStore
from publishers.claims import DynamoClaims as DynamoClaims
from publishers.claims import SqliteClaims as SqliteClaims

__all__ = [
    "Claim",
    "ClaimStore",
    "DuplicateInProgress",
    "DynamoClaims",
    "SqliteClaims",
    "cronbridge_worker",
]

#: a claim outlasts its attempt's deadline by this much, for the last write's journey
LEASE_MARGIN_SECONDS = 5.0
_POLL_SECONDS = 1.0
_SAFETY_MS = 2000


class DuplicateInProgress(RuntimeError):
    """Another invocation of the same job is running; Lambda will try this one again."""


Worker = Callable[[Any, JobRef], Any]
#: records a batch of results; the ids of runs whose results could not be stored
ResultRecorder = Callable[[Sequence[JobResult]], set[str]]


def default_results() -> ResultRecorder:
    """Record into the DynamoDB ledger named by CRONBRIDGE_LEDGER_TABLE, the same way
    the recorder does (bridge.usecases.record)."""
    table = os.environ.get("CRONBRIDGE_LEDGER_TABLE")
    if not table:
        raise InvalidInput(
            "an SQS consumer records results in the ledger: set CRONBRIDGE_LEDGER_TABLE"
        )
    import boto3

    from bridge.aws.ledger import DynamoLedger

    return ledger_recorder(DynamoLedger(boto3.client("dynamodb"), table))


def ledger_recorder(ledger: Ledger) -> ResultRecorder:
    from bridge.usecases.record import record_results

    def record(results: Sequence[JobResult]) -> set[str]:
        return record_results(results, ledger=ledger).failed_runs

    return record


def cronbridge_worker(
    function: Worker | None = None,
    *,
    claims: Callable[[], ClaimStore] = default_claims,
    results: Callable[[], ResultRecorder] = default_results,
    max_attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Any:
    """Decorate `function(payload, job)` into a Lambda handler `handler(event, context)`.

    The handler takes a worker envelope (a `lambda:` target: Lambda's destinations
    carry the result), or an SQS batch (an `sqs:` target, the Job Observer pattern).
    For a batch the helper records each job's result in the ledger itself: a success
    at once, a failure when the message has been received `max_attempts` times (make
    it the queue's maxReceiveCount); earlier failures go back to SQS through
    `batchItemFailures` (enable ReportBatchItemFailures on the event source mapping).

    `claims` and `results` make their stores on first use (default: from the environment);
    `clock` is the wall clock claims' leases are measured on.
    """

    def decorate(fn: Worker) -> Callable[[Any, Any], Any]:
        store: list[ClaimStore] = []
        recorder: list[ResultRecorder] = []

        @functools.wraps(fn)
        def handler(event: Any, context: Any) -> Any:
            if not store:  # made on first use, kept for the container's life
                store.append(claims())
            if _is_sqs_batch(event):
                if not recorder:
                    recorder.append(results())
                return _consume_batch(
                    event, store[0], recorder[0], fn, context, sleep, clock, max_attempts
                )
            ref, payload = parse_envelope(event)
            if isinstance(event, dict) and event.get("payload_ref"):
                payload = _fetch_payload(event["payload_ref"])
            return capped(_run_once(store[0], fn, ref, payload, context, sleep, clock))

        return handler

    return decorate if function is None else decorate(function)


def _run_once(
    store: ClaimStore,
    fn: Worker,
    ref: JobRef,
    payload: Any,
    context: Any,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> Any:
    owner = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
    time_left = getattr(context, "get_remaining_time_in_millis", None)
    while True:
        now = clock()
        # The lease is this attempt's deadline: Lambda ends the attempt there, so a
        # claim still running after it belongs to an attempt that is gone.
        lease_until = (
            now + time_left() / 1000 + LEASE_MARGIN_SECONDS
            if callable(time_left)
            else now + LEASE_SECONDS
        )
        claim = store.claim(ref, owner, now, lease_until)
        if claim.state == "done":
            return claim.result
        if claim.state == "acquired":
            break
        if callable(time_left) and time_left() < _SAFETY_MS + _POLL_SECONDS * 1000:
            raise DuplicateInProgress(f"job {ref.job_id} of run {ref.run_id} is running elsewhere")
        sleep(_POLL_SECONDS)
    try:
        result = fn(payload, ref)
    except BaseException:
        store.release(ref, owner)
        raise
    store.complete(ref, owner, result)
    return result


#: the most of a worker's answer the helper hands Lambda: with the envelope (at most
#: publishers.delivery.INLINE_ENVELOPE_LIMIT) the destination record stays deliverable
RESPONSE_LIMIT = 16 * 1024


def capped(result: Any) -> Any:
    """The worker's answer, or, when its JSON is over RESPONSE_LIMIT, a small stand-in
    holding its first bytes: a destination record too large for its queue is dropped by
    Lambda, result and all. The ledger keeps 4 KiB of an answer in any case."""
    text = json.dumps(result, separators=(",", ":"), default=str)
    if len(text.encode()) <= RESPONSE_LIMIT:
        return result
    return {"truncated": True, "bytes": len(text.encode()), "head": bound_text(text, 4096)}


def _is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        return False
    return all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)


def _consume_batch(
    event: dict[str, Any],
    store: ClaimStore,
    recorder: ResultRecorder,
    fn: Worker,
    context: Any,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    max_attempts: int,
) -> dict[str, Any]:
    failures = []
    finished: list[tuple[str, JobResult]] = []
    for record in event["Records"]:
        received = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        try:
            envelope = json.loads(record["body"])
            ref, payload = parse_envelope(envelope)
            if envelope.get("payload_ref"):
                payload = _fetch_payload(envelope["payload_ref"])
        except (ValueError, InvalidInput):
            # Not ours to run: let SQS keep it, and its dead-letter queue hold it after.
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        started = time.monotonic()
        output: Any = None
        try:
            output = _run_once(store, fn, ref, payload, context, sleep, clock)
            status, error = JobStatus.SUCCEEDED, ""
        except DuplicateInProgress:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        except Exception as exc:  # noqa: BLE001 - the worker's failure is the job's result
            if received < max_attempts:
                failures.append({"itemIdentifier": record["messageId"]})
                continue
            status, error = JobStatus.FAILED, bound_text(f"{type(exc).__name__}: {exc}")
        text, truncated = bound_output(output)
        result = JobResult(
            ref=ref,
            status=status,
            tries=received,
            finished_at=datetime.now(UTC),
            error=error,
            duration_ms=(time.monotonic() - started) * 1000,
            output=text,
            truncated=truncated,
        )
        finished.append((record["messageId"], result))
    # One batch for the ledger; the messages of a run it could not store go back to SQS
    # (their claims are done: the next receive returns the result without running it).
    unstored = recorder([result for _, result in finished]) if finished else set()
    failures += [
        {"itemIdentifier": message_id}
        for message_id, result in finished
        if result.ref.run_id in unstored
    ]
    return {"batchItemFailures": failures}


def _fetch_payload(ref: Any) -> Any:
    import boto3

    body = boto3.client("s3").get_object(Bucket=ref["bucket"], Key=ref["key"])["Body"].read()
    return json.loads(body)
