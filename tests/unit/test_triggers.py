from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.names import NAME_PATTERN, validate_group_name
from bridge.domain.triggers import (
    MAX_BODY_BYTES,
    TriggerEvent,
    carries_secret,
    derive_run_id,
    group_of_run,
    parse_trigger,
    parse_trigger_body,
    parse_trigger_key,
)
from bridge.exceptions import InvalidInput, InvalidTrigger
from tests.conftest import fuzz

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
valid_names = st.from_regex(NAME_PATTERN, fullmatch=True)


def event(key: str = "triggers/nightly", body: bytes = b"", **kw: object) -> TriggerEvent:
    fields: dict[str, object] = {"bucket": "b", "key": key, "body": body, "event_time": T0}
    fields.update(kw)
    return TriggerEvent(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "group"),
    [
        ("triggers/nightly", "nightly"),
        ("triggers/a", "a"),
        ("triggers/eu-west-1/retry-2", "eu-west-1"),
        ("triggers/" + "a" * 63, "a" * 63),
    ],
)
def test_key_names_its_group(key: str, group: str) -> None:
    assert parse_trigger_key(key) == group


@pytest.mark.parametrize(
    "key",
    [
        "triggers/../x",
        "triggers/\x00",
        "triggers/" + "a" * 300,
        "triggers/",
        "triggers/Nightly",
        "triggers/-lead",
        "other/nightly",
        "nightly",
        "triggers/a b",
    ],
)
def test_bad_keys_are_rejected_with_a_clear_message(key: str) -> None:
    with pytest.raises(InvalidTrigger) as info:
        parse_trigger_key(key)
    assert "triggers/" in info.value.message or "group" in info.value.message
    assert len(info.value.message) < 200  # a 300-character key is cut short in the message


@given(valid_names)
def test_every_valid_name_is_accepted_in_a_key(name: str) -> None:
    assert parse_trigger_key(f"triggers/{name}") == name
    assert validate_group_name(name) == name


@given(st.text(max_size=80))
def test_names_accepted_are_exactly_the_pattern(name: str) -> None:
    ok = NAME_PATTERN.fullmatch(name) is not None
    try:
        validate_group_name(name)
        accepted = True
    except InvalidInput:
        accepted = False
    assert accepted is ok
    if ok:
        assert 1 <= len(name) <= 63 and name == name.lower() and "/" not in name


@fuzz
@given(st.text(max_size=200))
def test_any_key_is_parsed_or_rejected_cleanly(key: str) -> None:
    try:
        group = parse_trigger_key(key)
    except InvalidTrigger:
        return
    assert key.startswith(f"triggers/{group}")


@fuzz
@given(st.binary(max_size=MAX_BODY_BYTES + 10))
def test_any_body_is_parsed_or_rejected_cleanly(body: bytes) -> None:
    try:
        parsed = parse_trigger_body(body)
    except InvalidTrigger as exc:
        assert exc.message
        return
    assert parsed.scheduled_time is None or parsed.scheduled_time.tzinfo is not None


moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(moments, st.sampled_from([0, 9, -5]))
def test_scheduled_time_round_trips_through_any_offset(moment: datetime, hours: int) -> None:
    local = moment.astimezone(timezone(timedelta(hours=hours)))
    body = json.dumps({"scheduled_time": local.isoformat()}).encode()
    assert parse_trigger_body(body).scheduled_time == moment


def test_empty_body_means_now_and_manual() -> None:
    body = parse_trigger_body(b"")
    assert body.scheduled_time is None and body.source == "manual"


def test_unknown_fields_are_ignored() -> None:
    body = parse_trigger_body(b'{"scheduled_time": "2026-11-22T03:00:00Z", "extra": [1]}')
    assert body.scheduled_time == T0 and body.source == "schedule"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"scheduled_time": "yesterday"}', "RFC 3339"),
        (b'{"scheduled_time": "2026-11-22T03:00:00"}', "offset"),
        (b'{"scheduled_time": 17}', "RFC 3339"),
        (b'{"source": 5}', "source"),
        (b'{"note": "' + b"x" * 300 + b'"}', "note"),
        (b"\xff\xfe", "not JSON"),
        (b"{" + b" " * MAX_BODY_BYTES + b"}", "at most 4096"),
    ],
)
def test_bad_bodies_say_what_is_wrong(body: bytes, words: str) -> None:
    with pytest.raises(InvalidTrigger, match=words):
        parse_trigger_body(body)


def test_same_slot_gives_same_run_id_whatever_the_offset_or_write() -> None:
    a = parse_trigger(event(body=b'{"scheduled_time": "2026-11-22T12:00:00+09:00"}', sequencer="1"))
    b = parse_trigger(event(body=b'{"scheduled_time": "2026-11-22T03:00:00Z"}', sequencer="2"))
    assert derive_run_id(a) == derive_run_id(b) == "nightly.20261122T030000Z"


def test_sub_second_slots_stay_distinct() -> None:
    a = parse_trigger(event(body=b'{"scheduled_time": "2026-11-22T03:00:00.5Z"}'))
    assert derive_run_id(a) == "nightly.20261122T030000.5Z"


def test_manual_run_id_follows_the_write() -> None:
    first = derive_run_id(parse_trigger(event(sequencer="00A1")))
    again = derive_run_id(parse_trigger(event(sequencer="00A1")))
    other = derive_run_id(parse_trigger(event(sequencer="00A2")))
    assert first == again != other
    assert first.startswith("nightly.m-")


def test_without_sequencer_etag_and_time_identify_the_write() -> None:
    a = derive_run_id(parse_trigger(event(etag="e1")))
    b = derive_run_id(parse_trigger(event(etag="e1", event_time=T0 + timedelta(seconds=1))))
    assert a != b


@given(valid_names, moments)
def test_group_of_run_inverts_run_ids(name: str, moment: datetime) -> None:
    body = json.dumps({"scheduled_time": moment.isoformat()}).encode()
    run_id = derive_run_id(parse_trigger(event(key=f"triggers/{name}", body=body)))
    assert group_of_run(run_id) == name


def test_group_of_run_rejects_non_run_ids() -> None:
    with pytest.raises(InvalidInput):
        group_of_run("no-dot-here")


@pytest.mark.parametrize(
    ("agent", "admitted"),
    [
        ("s3cr3t-0123456789abcdefghij", True),
        ("Azure-Logic-Apps/1.0 s3cr3t-0123456789abcdefghij", True),
        ("s3cr3t-0123456789abcdefghij (compatible; proxy)", True),
        ("s3cr3t-0123456789abcdefghi", False),
        ("S3CR3T-0123456789ABCDEFGHIJ", False),
        ("", False),
        ("curl/8.5.0", False),
    ],
)
def test_the_secret_is_found_anywhere_in_the_user_agent(agent: str, admitted: bool) -> None:
    assert carries_secret(agent, "s3cr3t-0123456789abcdefghij") is admitted


@given(st.text(max_size=200), st.text(min_size=1, max_size=40))
def test_carries_secret_is_substring_search(agent: str, secret: str) -> None:
    encoded = agent.encode("latin-1", "replace").decode("latin-1")
    assert carries_secret(agent, secret) is (secret.encode() in encoded.encode("latin-1"))


def test_an_empty_scheduled_time_is_a_manual_trigger() -> None:
    """A Logic App run by hand from the portal has no scheduled slot to put there."""
    body = parse_trigger_body(b'{"scheduled_time": "", "source": "azure-logic-apps"}')
    assert body.scheduled_time is None and body.source == "azure-logic-apps"
    slot = parse_trigger_body(b'{"scheduled_time": "2026-11-22T03:00:00.1234567Z"}')
    assert slot.scheduled_time == datetime(2026, 11, 22, 3, 0, 0, 123456, tzinfo=UTC)
