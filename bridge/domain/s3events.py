"""S3 event notification records, as AWS documents them (eventVersion 2.1-2.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from bridge.domain.triggers import parse_time
from bridge.exceptions import InvalidTrigger

__all__ = ["S3ObjectEvent", "is_test_event", "parse_s3_record"]


@dataclass(frozen=True)
class S3ObjectEvent:
    event_name: str
    bucket: str
    key: str  # decoded
    event_time: datetime
    sequencer: str | None
    etag: str | None


def is_test_event(event: Any) -> bool:
    """S3 sends `s3:TestEvent` when a notification is configured: nothing to do."""
    return isinstance(event, dict) and event.get("Event") == "s3:TestEvent"


def parse_s3_record(record: Any) -> S3ObjectEvent:
    """The object a record is about. Keys arrive URL-encoded, `+` for a space."""
    try:
        name = str(record["eventName"])
        s3 = record["s3"]
        bucket = str(s3["bucket"]["name"])
        obj = s3["object"]
        key = unquote_plus(str(obj["key"]))
        when = record.get("eventTime")
    except (KeyError, TypeError) as exc:
        raise InvalidTrigger(f"not an S3 event record: missing {exc}") from None
    event_time = parse_time(when, "eventTime") if when else datetime.fromtimestamp(0, UTC)
    return S3ObjectEvent(
        event_name=name,
        bucket=bucket,
        key=key,
        event_time=event_time,
        sequencer=obj.get("sequencer"),
        etag=obj.get("eTag"),
    )
