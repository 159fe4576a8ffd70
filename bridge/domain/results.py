"""What a worker receives (DESIGN.md §3.4) and what the recorder learns back (§3.5).

The recorder reads Lambda's asynchronous-invocation destination records, as AWS
documents them, one by one or in SQS batches (the destinations go to a queue); the
local runtime produces the very same shapes, so one parser serves both.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.domain.groups import Job
from bridge.domain.plan import PublisherUnit
from bridge.domain.triggers import format_time, parse_time
from bridge.exceptions import InvalidInput

__all__ = [
    "ENVELOPE_KEY",
    "MAX_ERROR_BYTES",
    "MAX_OUTPUT_BYTES",
    "JobRef",
    "JobResult",
    "JobStatus",
    "bound_output",
    "bound_text",
    "build_envelope",
    "destination_record",
    "parse_destination_record",
    "parse_envelope",
    "results_from_sqs_event",
]

ENVELOPE_KEY = "cronbridge"
#: the whole error text a job's result keeps (type, message and stack trace)
MAX_ERROR_BYTES = 8 * 1024
#: the worker's return value a job's result keeps, as JSON; longer is cut and flagged
MAX_OUTPUT_BYTES = 4 * 1024


class JobStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost"  # no result came by the run's deadline, even after it was sent once more

    @property
    def rank(self) -> int:
        """Which of two results of the same attempt stands: a success over a failure
        (a duplicate invocation may fail where the first succeeded), a failure over lost."""
        return _RANK[self]


_RANK = {JobStatus.SUCCEEDED: 3, JobStatus.FAILED: 2, JobStatus.LOST: 1}


@dataclass(frozen=True)
class JobRef:
    run_id: str
    group: str
    list_name: str
    job_id: str
    scheduled_time: str
    attempt: int
    part: int = -1  # the job's part of its list; -1 when the envelope did not say


@dataclass(frozen=True)
class JobResult:
    ref: JobRef
    status: JobStatus
    tries: int
    finished_at: datetime
    error: str = ""  # at most MAX_ERROR_BYTES of UTF-8
    duration_ms: float | None = None
    output: str | None = None  # the worker's return value as JSON, at most MAX_OUTPUT_BYTES
    truncated: bool = False  # output was longer and has been cut

    def to_dict(self) -> dict[str, Any]:
        return {
            "list": self.ref.list_name,
            "part": self.ref.part,
            "job": self.ref.job_id,
            "status": self.status.value,
            "attempt": self.ref.attempt,
            "tries": self.tries,
            "finished_at": format_time(self.finished_at),
            "duration_ms": self.duration_ms,
            "error": self.error,
            "output": self.output,
            "truncated": self.truncated,
        }


def bound_text(text: str, limit: int = MAX_ERROR_BYTES) -> str:
    """`text` cut to at most `limit` bytes of UTF-8, never in the middle of a character."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def bound_output(value: Any) -> tuple[str | None, bool]:
    """A worker's return value as JSON text of at most MAX_OUTPUT_BYTES, and whether it
    was cut (a cut value is no longer valid JSON: it is kept as text to read)."""
    if value is None:
        return None, False
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    cut = bound_text(text, MAX_OUTPUT_BYTES)
    return cut, cut != text


def build_envelope(unit: PublisherUnit, job: Job) -> dict[str, Any]:
    return {
        ENVELOPE_KEY: {
            "run": unit.run_id,
            "group": unit.group,
            "list": unit.list_name,
            "part": unit.first_part,
            "job": job.id,
            "scheduled_time": unit.scheduled_time,
            "attempt": unit.attempt,
        },
        "payload": job.payload,
    }


def parse_envelope(event: Any) -> tuple[JobRef, Any]:
    """The job reference and payload of a worker event; InvalidInput if it is not one."""
    meta = event.get(ENVELOPE_KEY) if isinstance(event, dict) else None
    if not isinstance(meta, dict):
        raise InvalidInput(f"not a cronbridge worker envelope: no {ENVELOPE_KEY!r} object")
    try:
        part = meta.get("part", -1)
        ref = JobRef(
            run_id=_str(meta, "run"),
            group=_str(meta, "group"),
            list_name=_str(meta, "list"),
            job_id=_str(meta, "job"),
            scheduled_time=_str(meta, "scheduled_time"),
            attempt=_int(meta["attempt"]),
            part=_int(part) if part is not None else -1,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"malformed cronbridge worker envelope: {exc}") from None
    return ref, event.get("payload")


def destination_record(
    envelope: dict[str, Any],
    *,
    succeeded: bool,
    tries: int,
    response: Any,
    function_arn: str,
    request_id: str,
    timestamp: datetime,
    duration_ms: float | None = None,
    condition: str | None = None,
) -> dict[str, Any]:
    """A record shaped as Lambda sends to an async invocation's destination."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": format_time(timestamp),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition or ("Success" if succeeded else "RetriesExhausted"),
            "approximateInvokeCount": tries,
        },
        "requestPayload": envelope,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": response,
    }
    if not succeeded:
        record["responseContext"]["functionError"] = "Unhandled"
    if duration_ms is not None:
        # Not part of AWS's record: the local runtime knows the duration and says it.
        record[ENVELOPE_KEY] = {"duration_ms": round(duration_ms, 3)}
    return record


def parse_destination_record(record: Any) -> JobResult:
    """The job result a destination record reports; InvalidInput for anything else."""
    if not isinstance(record, dict):
        raise InvalidInput("destination record must be a JSON object")
    context = record.get("requestContext")
    if not isinstance(context, dict):
        raise InvalidInput("destination record has no requestContext")
    condition = context.get("condition")
    if condition == "Success":
        status = JobStatus.SUCCEEDED
    elif condition in ("RetriesExhausted", "EventAgeExceeded"):
        status = JobStatus.FAILED
    else:
        raise InvalidInput(f"destination record has an unknown condition {condition!r}")
    ref, _ = parse_envelope(record.get("requestPayload"))
    tries = context.get("approximateInvokeCount", 1)
    if not isinstance(tries, int) or isinstance(tries, bool) or tries < 1:
        raise InvalidInput("approximateInvokeCount must be a positive integer")
    timestamp = record.get("timestamp")
    if not isinstance(timestamp, str):
        raise InvalidInput("destination record has no timestamp")
    extra = record.get(ENVELOPE_KEY)
    duration = extra.get("duration_ms") if isinstance(extra, dict) else None
    ok = status is JobStatus.SUCCEEDED
    output, truncated = bound_output(record.get("responsePayload")) if ok else (None, False)
    return JobResult(
        ref=ref,
        status=status,
        tries=tries,
        finished_at=parse_time(timestamp, "timestamp"),
        error="" if ok else _error_text(record, condition),
        duration_ms=float(duration)
        if isinstance(duration, int | float) and not isinstance(duration, bool)
        else None,
        output=output,
        truncated=truncated,
    )


def results_from_sqs_event(
    event: Any,
) -> tuple[list[tuple[str, JobResult]], list[tuple[str, str]]]:
    """The results in an SQS batch of destination records, each with its message id,
    and the records that are not results (message id, why). A lone destination record
    (a worker whose destination is still the recorder function) is a batch of one."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        try:
            return [("", parse_destination_record(event))], []
        except InvalidInput as exc:
            return [], [("", exc.message)]
    results: list[tuple[str, JobResult]] = []
    rejected: list[tuple[str, str]] = []
    for record in records:
        message_id = record.get("messageId", "") if isinstance(record, dict) else ""
        message_id = message_id if isinstance(message_id, str) else ""
        try:
            body = record.get("body") if isinstance(record, dict) else None
            if not isinstance(body, str):
                raise InvalidInput("SQS record has no body")
            try:
                data = json.loads(body)
            except ValueError:
                raise InvalidInput("SQS record body is not JSON") from None
            results.append((message_id, parse_destination_record(data)))
        except InvalidInput as exc:
            rejected.append((message_id, exc.message))
    return results, rejected


def _error_text(record: dict[str, Any], condition: str) -> str:
    payload = record.get("responsePayload")
    if isinstance(payload, dict) and ("errorMessage" in payload or "errorType" in payload):
        kind = str(payload.get("errorType") or "Error")
        text = f"{kind}: {payload.get('errorMessage', '')}"
        trace = payload.get("stackTrace")
        if isinstance(trace, list) and trace:
            text += "\n" + "".join(str(line) for line in trace).rstrip("\n")
    elif condition == "EventAgeExceeded":
        text = "EventAgeExceeded: the event waited in Lambda's queue longer than its maximum age"
    else:
        text = "the worker failed on every attempt"
    return bound_text(text)


def _str(meta: dict[str, Any], key: str) -> str:
    value = meta[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError("must be an integer")
    return int(value)
