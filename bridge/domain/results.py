"""What a worker receives (DESIGN.md §3.4) and what the recorder learns back (§3.5).

The recorder reads Lambda's asynchronous-invocation destination records, as AWS
documents them; the local runtime produces the very same shape, so one parser serves
both.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.domain.groups import Job
from bridge.domain.plan import PublisherUnit
from bridge.domain.triggers import format_time, parse_time
from bridge.exceptions import InvalidInput

__all__ = [
    "ENVELOPE_KEY",
    "JobRef",
    "JobResult",
    "JobStatus",
    "build_envelope",
    "destination_record",
    "parse_destination_record",
    "parse_envelope",
]

ENVELOPE_KEY = "cronbridge"
_MAX_ERROR_CHARS = 2000


class JobStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REDRIVE = "redrive"  # failed, then sent again by `runs redrive`; awaiting its new result


@dataclass(frozen=True)
class JobRef:
    run_id: str
    group: str
    list_name: str
    job_id: str
    scheduled_time: str
    attempt: int


@dataclass(frozen=True)
class JobResult:
    ref: JobRef
    status: JobStatus
    tries: int
    finished_at: datetime
    error: str = ""
    duration_ms: float | None = None


def build_envelope(unit: PublisherUnit, job: Job) -> dict[str, Any]:
    return {
        ENVELOPE_KEY: {
            "run": unit.run_id,
            "group": unit.group,
            "list": unit.list_name,
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
        ref = JobRef(
            run_id=_str(meta, "run"),
            group=_str(meta, "group"),
            list_name=_str(meta, "list"),
            job_id=_str(meta, "job"),
            scheduled_time=_str(meta, "scheduled_time"),
            attempt=int(meta["attempt"]),
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
) -> dict[str, Any]:
    """A record shaped as Lambda sends to an async invocation's destination."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": format_time(timestamp),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": "Success" if succeeded else "RetriesExhausted",
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
    if not isinstance(tries, int) or tries < 1:
        raise InvalidInput("approximateInvokeCount must be a positive integer")
    timestamp = record.get("timestamp")
    if not isinstance(timestamp, str):
        raise InvalidInput("destination record has no timestamp")
    extra = record.get(ENVELOPE_KEY)
    duration = extra.get("duration_ms") if isinstance(extra, dict) else None
    return JobResult(
        ref=ref,
        status=status,
        tries=tries,
        finished_at=parse_time(timestamp, "timestamp"),
        error="" if status is JobStatus.SUCCEEDED else _error_text(record, condition),
        duration_ms=float(duration) if isinstance(duration, int | float) else None,
    )


def _error_text(record: dict[str, Any], condition: str) -> str:
    payload = record.get("responsePayload")
    if isinstance(payload, dict) and ("errorMessage" in payload or "errorType" in payload):
        kind = str(payload.get("errorType") or "Error")
        text = f"{kind}: {payload.get('errorMessage', '')}"
    elif condition == "EventAgeExceeded":
        text = "EventAgeExceeded: the event was too old to be invoked"
    else:
        text = "the worker failed on every attempt"
    return text[:_MAX_ERROR_CHARS]


def _str(meta: dict[str, Any], key: str) -> str:
    value = meta[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value
