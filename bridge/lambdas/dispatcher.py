"""The dispatcher Lambda: S3 `ObjectCreated` records of the trigger bucket in, runs out.

Every record is decided on its own: a bad one is logged and counted, and never stops
the others or fails the invocation (a retry would not make it good). Errors of our
dependencies (DynamoDB, Lambda) do fail it, so Lambda retries the event; opening a
run is idempotent, so a retry never starts a second run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from bridge.aws.runtime import AwsRuntime
from bridge.domain.s3events import is_test_event, parse_s3_record
from bridge.domain.triggers import MAX_BODY_BYTES, TriggerEvent
from bridge.exceptions import CronbridgeError, InvalidTrigger
from bridge.lambdas._shared import container_runtime, log_decision
from bridge.usecases.dispatch import handle_trigger

__all__ = ["Superseded", "handler", "make_handler", "read_trigger_body"]


class Superseded(Exception):
    """The trigger object was written again after the write this event is about."""


def read_trigger_body(s3: Any, bucket: str, key: str, etag: str | None = None) -> bytes:
    """At most MAX_BODY_BYTES + 1 bytes, by a ranged GET: never trust the event's size.

    With the event's `etag`, only the very write that raised the event is read (If-Match):
    two PUTs close together are two events, and each must get its own body, not the
    later one's. Superseded if the object has been written again since.
    """
    conditions = {"IfMatch": etag} if etag else {}
    try:
        response = s3.get_object(
            Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_BODY_BYTES}", **conditions
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("PreconditionFailed", "412"):
            raise Superseded(f"trigger object {key!r} was written again since") from None
        if code == "InvalidRange":  # a zero-byte object has no byte 0
            return b""
        if code in ("NoSuchKey", "404"):
            raise InvalidTrigger(f"trigger object {key!r} is gone") from None
        raise
    return bytes(response["Body"].read(MAX_BODY_BYTES + 1))


def make_handler(get_runtime: Callable[[], AwsRuntime]) -> Callable[[Any, Any], dict[str, Any]]:
    def dispatch(event: Any, context: Any) -> dict[str, Any]:
        if is_test_event(event):
            log_decision("test event ignored")
            return {"ignored": 1}
        runtime = get_runtime()
        counts: Counter[str] = Counter()
        records = event.get("Records", []) if isinstance(event, dict) else []
        for record in records:
            counts[_dispatch_record(runtime, record)] += 1
        return dict(counts)

    return dispatch


def _dispatch_record(runtime: AwsRuntime, record: Any) -> str:
    try:
        obj = parse_s3_record(record)
        if not obj.event_name.startswith("ObjectCreated:"):
            raise InvalidTrigger(f"event {obj.event_name!r} is not an object creation")
        if obj.bucket != runtime.settings.trigger_bucket:
            raise InvalidTrigger(f"bucket {obj.bucket!r} is not the trigger bucket")
        body = read_trigger_body(runtime.s3, obj.bucket, obj.key, obj.etag)
        event = TriggerEvent(obj.bucket, obj.key, body, obj.event_time, obj.sequencer, obj.etag)
        outcome = handle_trigger(
            event,
            registry=runtime.registry,
            ledger=runtime.ledger,
            publishers=runtime.publishers,
            clock=runtime.clock,
            timing=runtime.settings.timing,
        )
    except Superseded as exc:
        # Its body is gone; the write that replaced it raised an event of its own.
        log_decision("trigger superseded", reason=str(exc))
        return "superseded"
    except CronbridgeError as exc:
        log_decision("trigger rejected", code=exc.code, reason=exc.message)
        return "rejected"
    log_decision(
        "run " + outcome.decision,
        group=outcome.group,
        run=outcome.run_id,
        reason=outcome.reason,
        publishers=outcome.publishers,
        cancelled=outcome.cancelled,
    )
    return outcome.decision


handler = make_handler(container_runtime)
