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

Claims live in the run ledger: DynamoDB when `CRONBRIDGE_LEDGER_TABLE` is set (the
worker's role needs PutItem/GetItem/UpdateItem/DeleteItem on it), otherwise the local
SQLite ledger in `$CRONBRIDGE_HOME`. Each claim has a partition key of its own, so a
big run's claims spread over the table. Standard library and boto3 only.

Without the helper, a raw handler receives the envelope `{"cronbridge": {...},
"payload": ...}` and must itself be idempotent.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

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

__all__ = [
    "Claim",
    "ClaimStore",
    "DuplicateInProgress",
    "DynamoClaims",
    "SqliteClaims",
    "cronbridge_worker",
]

#: how long a claim holds before another invocation may take it over (Lambda's maximum)
LEASE_SECONDS = 900
_POLL_SECONDS = 1.0
_SAFETY_MS = 2000


class DuplicateInProgress(RuntimeError):
    """Another invocation of the same job is running; Lambda will try this one again."""


@dataclass(frozen=True)
class Claim:
    state: str  # "acquired" | "done" | "busy"
    result: Any = None


class ClaimStore(Protocol):
    def claim(self, ref: JobRef, owner: str, now: float) -> Claim: ...
    def complete(self, ref: JobRef, owner: str, result: Any) -> None: ...
    def release(self, ref: JobRef, owner: str) -> None: ...


class DynamoClaims:
    """Claim items, one partition key each: (`claim#<run>#<job>`, `claim`)."""

    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def _key(self, ref: JobRef) -> dict[str, Any]:
        return {"pk": {"S": f"claim#{ref.run_id}#{ref.job_id}"}, "sk": {"S": "claim"}}

    def claim(self, ref: JobRef, owner: str, now: float) -> Claim:
        from botocore.exceptions import ClientError

        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **self._key(ref),
                    "state": {"S": "running"},
                    "owner": {"S": owner},
                    "lease_until": {"N": str(now + LEASE_SECONDS)},
                    "expires_at": {"N": str(int(now) + 90 * 86400)},
                },
                ConditionExpression="attribute_not_exists(pk) OR (#state = :running AND lease_until < :now)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":running": {"S": "running"}, ":now": {"N": str(now)}},
            )
            return Claim("acquired")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        item = self._db.get_item(
            TableName=self._table, Key=self._key(ref), ConsistentRead=True
        ).get("Item")
        if item is None:
            return Claim("busy")  # released between our write and our read: look again
        if item["state"]["S"] == "done":
            return Claim("done", json.loads(item.get("result", {}).get("S", "null")))
        return Claim("busy")

    def complete(self, ref: JobRef, owner: str, result: Any) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=self._key(ref),
            UpdateExpression="SET #state = :done, #result = :result",
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#state": "state", "#result": "result", "#owner": "owner"},
            ExpressionAttributeValues={
                ":done": {"S": "done"},
                ":result": {"S": json.dumps(result, default=str)},
                ":owner": {"S": owner},
            },
        )

    def release(self, ref: JobRef, owner: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._db.delete_item(
                TableName=self._table,
                Key=self._key(ref),
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise


class SqliteClaims:
    """The same claims in the local ledger file, for workers run by `cronbridge serve`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS claims (run_id TEXT, job_id TEXT, state TEXT, owner TEXT,"
                " lease_until REAL, result TEXT, PRIMARY KEY (run_id, job_id))"
            )

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def claim(self, ref: JobRef, owner: str, now: float) -> Claim:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT state, lease_until, result FROM claims WHERE run_id = ? AND job_id = ?",
                (ref.run_id, ref.job_id),
            ).fetchone()
            if row is None or (row[0] == "running" and row[1] < now):
                conn.execute(
                    "INSERT OR REPLACE INTO claims VALUES (?, ?, 'running', ?, ?, NULL)",
                    (ref.run_id, ref.job_id, owner, now + LEASE_SECONDS),
                )
                conn.execute("COMMIT")
                return Claim("acquired")
            conn.execute("COMMIT")
            return (
                Claim("done", json.loads(row[2] or "null")) if row[0] == "done" else Claim("busy")
            )
        finally:
            conn.close()

    def complete(self, ref: JobRef, owner: str, result: Any) -> None:
        conn = self._connect()
        try:
            conn.execute(
                "UPDATE claims SET state = 'done', result = ? WHERE run_id = ? AND job_id = ? AND owner = ?",
                (json.dumps(result, default=str), ref.run_id, ref.job_id, owner),
            )
        finally:
            conn.close()

    def release(self, ref: JobRef, owner: str) -> None:
        conn = self._connect()
        try:
            conn.execute(
                "DELETE FROM claims WHERE run_id = ? AND job_id = ? AND owner = ?",
                (ref.run_id, ref.job_id, owner),
            )
        finally:
            conn.close()


def default_claims() -> ClaimStore:
    table = os.environ.get("CRONBRIDGE_LEDGER_TABLE")
    if table:
        import boto3

        return DynamoClaims(boto3.client("dynamodb"), table)
    home = os.environ.get("CRONBRIDGE_HOME") or str(Path.home() / ".cronbridge")
    return SqliteClaims(Path(home).expanduser() / "ledger.sqlite3")


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
) -> Any:
    """Decorate `function(payload, job)` into a Lambda handler `handler(event, context)`.

    The handler takes a worker envelope (a `lambda:` target: Lambda's destinations
    carry the result), or an SQS batch (an `sqs:` target, the Job Observer pattern).
    For a batch the helper records each job's result in the ledger itself: a success
    at once, a failure when the message has been received `max_attempts` times (make
    it the queue's maxReceiveCount); earlier failures go back to SQS through
    `batchItemFailures` (enable ReportBatchItemFailures on the event source mapping).

    `claims` and `results` make their stores on first use (default: from the environment).
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
                    event, store[0], recorder[0], fn, context, sleep, max_attempts
                )
            ref, payload = parse_envelope(event)
            if isinstance(event, dict) and event.get("payload_ref"):
                payload = _fetch_payload(event["payload_ref"])
            return capped(_run_once(store[0], fn, ref, payload, context, sleep))

        return handler

    return decorate if function is None else decorate(function)


def _run_once(
    store: ClaimStore,
    fn: Worker,
    ref: JobRef,
    payload: Any,
    context: Any,
    sleep: Callable[[float], None],
) -> Any:
    owner = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
    time_left = getattr(context, "get_remaining_time_in_millis", None)
    while True:
        claim = store.claim(ref, owner, time.time())
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
            output = _run_once(store, fn, ref, payload, context, sleep)
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
