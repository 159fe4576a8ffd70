"""Fuzzing what arrives from outside: S3 event records, and the trigger each becomes.
Whatever comes in is parsed or refused with one clear error; nothing else escapes.
(Keys, bodies, destination records and job-list lines are fuzzed beside their parsers.)
`make fuzz` runs these with many more examples."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.s3events import parse_s3_record
from bridge.domain.triggers import TriggerEvent, derive_run_id, parse_trigger
from bridge.exceptions import CronbridgeError
from tests.conftest import fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def record(key: Any, event_time: Any = "2026-11-22T03:00:00.000Z", **obj: Any) -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "eventTime": event_time,
        "s3": {"bucket": {"name": "b"}, "object": {"key": key, **obj}},
    }


def through_the_dispatcher(raw: Any, body: bytes = b"") -> str | None:
    """A record to a run id, as the dispatcher does before any I/O; None if refused."""
    try:
        parsed = parse_s3_record(raw)
        event = TriggerEvent(
            parsed.bucket, parsed.key, body, parsed.event_time, parsed.sequencer, parsed.etag
        )
        return derive_run_id(parse_trigger(event))
    except CronbridgeError as exc:
        assert exc.message
        return None


@fuzz
@given(json_values)
def test_any_json_as_a_record_is_parsed_or_refused(raw: Any) -> None:
    through_the_dispatcher(raw)


@fuzz
@given(
    key=json_values,
    event_time=json_values,
    sequencer=json_values,
    etag=json_values,
)
def test_any_field_values_in_a_well_shaped_record(
    key: Any, event_time: Any, sequencer: Any, etag: Any
) -> None:
    through_the_dispatcher(record(key, event_time, sequencer=sequencer, eTag=etag))


@fuzz
@given(st.text(max_size=120), st.binary(max_size=300))
def test_any_url_encoded_key_with_any_body(key: str, body: bytes) -> None:
    run_id = through_the_dispatcher(record(quote_plus(key), sequencer="00A1"), body)
    if run_id is not None:
        assert key.startswith("triggers/")
        assert run_id.startswith(key.split("/")[1] + ".")


@fuzz
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    )
)
def test_a_scheduled_slot_names_the_run_whatever_the_event(moment: datetime) -> None:
    body = json.dumps({"scheduled_time": moment.isoformat()}).encode()
    first = through_the_dispatcher(record("triggers/nightly", sequencer="01"), body)
    second = through_the_dispatcher(
        record("triggers/nightly", "2030-01-01T00:00:00Z", sequencer="02"), body
    )
    assert first == second is not None
