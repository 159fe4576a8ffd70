from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.groups import Job
from bridge.domain.plan import PublisherUnit
from bridge.domain.results import (
    JobStatus,
    build_envelope,
    destination_record,
    parse_destination_record,
    parse_envelope,
)
from bridge.exceptions import InvalidInput
from tests.conftest import fuzz

EVENTS = Path(__file__).parent.parent / "events"
UNIT = PublisherUnit("g.20261122T030000Z", "g", 1, "a", 0, 1, "2026-11-22T03:00:00.000Z", attempt=2)


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def test_envelope_carries_the_documented_fields() -> None:
    envelope = build_envelope(UNIT, Job("j1", {"x": 1}))
    assert envelope == {
        "cronbridge": {
            "run": "g.20261122T030000Z",
            "group": "g",
            "list": "a",
            "part": 0,
            "job": "j1",
            "scheduled_time": "2026-11-22T03:00:00.000Z",
            "attempt": 2,
        },
        "payload": {"x": 1},
    }
    ref, payload = parse_envelope(envelope)
    assert (ref.job_id, ref.attempt, payload) == ("j1", 2, {"x": 1})


@pytest.mark.parametrize("event", [None, {}, {"cronbridge": 1}, {"cronbridge": {"run": "r"}}])
def test_what_is_not_an_envelope_is_refused(event: Any) -> None:
    with pytest.raises(InvalidInput, match="envelope"):
        parse_envelope(event)


def test_aws_documented_success_record() -> None:
    result = parse_destination_record(load_event("destination-success.json"))
    assert result.status is JobStatus.SUCCEEDED
    assert (result.ref.run_id, result.ref.job_id, result.tries, result.error) == (
        "nightly.20261122T030000Z",
        "job-42",
        1,
        "",
    )


def test_aws_documented_failure_record() -> None:
    result = parse_destination_record(load_event("destination-failure.json"))
    assert result.status is JobStatus.FAILED
    assert result.tries == 3
    assert result.error == (
        'RuntimeError: upstream returned 503\n  File "/var/task/worker.py", line 12, in handler'
    )


def test_local_records_have_the_aws_shape_and_round_trip() -> None:
    envelope = build_envelope(UNIT, Job("j1"))
    record = destination_record(
        envelope,
        succeeded=False,
        tries=3,
        response={"errorType": "E", "errorMessage": "m"},
        function_arn="arn",
        request_id="r",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        duration_ms=12.5,
    )
    assert set(record) >= {
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    }
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    result = parse_destination_record(json.loads(json.dumps(record)))
    assert (result.status, result.tries, result.error, result.duration_ms) == (
        JobStatus.FAILED,
        3,
        "E: m",
        12.5,
    )


@fuzz
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=15), c, max_size=4),
    )
)
def test_any_json_is_parsed_or_refused_cleanly(record: Any) -> None:
    try:
        parse_destination_record(record)
    except InvalidInput as exc:
        assert exc.message


@given(st.sampled_from(["requestContext", "requestPayload", "timestamp"]))
def test_a_record_missing_a_part_is_refused(part: str) -> None:
    record = load_event("destination-success.json")
    del record[part]
    with pytest.raises(InvalidInput):
        parse_destination_record(record)
