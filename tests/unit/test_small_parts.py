from __future__ import annotations

import shlex

import pytest

from bridge.domain.durations import format_duration, parse_duration
from bridge.exceptions import InvalidInput, InvalidTarget
from publishers.pacing import Pacer
from publishers.targets import TargetSpec, parse_target
from tests.conftest import FakeClock
from triggers.request import build_trigger_request, render_curl


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("0.5s", 0.5),
        (" 1M ", 60),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m5", "-3", "1h 5", "inf", "nan"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_duration(text, option="--timeout")


def test_format_duration() -> None:
    assert [format_duration(s) for s in (5, 90, 300, 3600, 0.25)] == [
        "5s",
        "90s",
        "5m",
        "1h",
        "0.25s",
    ]


def test_pacer_spaces_calls_on_the_clock() -> None:
    clock = FakeClock()
    pacer = Pacer(4.0, clock)
    for _ in range(5):
        pacer.wait()
    assert clock.sleeps == [0, 0.25, 0.25, 0.25, 0.25]


def test_pacer_does_not_bank_idle_time() -> None:
    clock = FakeClock()
    pacer = Pacer(2.0, clock)
    pacer.wait()
    clock.advance(10)
    pacer.wait()
    pacer.wait()
    assert clock.sleeps == [0, 0, 0.5]


def test_no_rate_means_no_waiting() -> None:
    clock = FakeClock()
    pacer = Pacer(None, clock)
    pacer.wait()
    assert not pacer.active and clock.sleeps == []


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("lambda:my-worker", TargetSpec("lambda", "my-worker")),
        (
            "sqs:https://sqs.eu-west-1.amazonaws.com/1/q",
            TargetSpec("sqs", "https://sqs.eu-west-1.amazonaws.com/1/q"),
        ),
        ("http://127.0.0.1:9000/jobs", TargetSpec("http", "http://127.0.0.1:9000/jobs")),
        ("https://example.test/x", TargetSpec("http", "https://example.test/x")),
        (
            "python:publishers.examples:checksum",
            TargetSpec("python", "publishers.examples:checksum"),
        ),
    ],
)
def test_targets_parse(text: str, spec: TargetSpec) -> None:
    assert parse_target(text) == spec
    assert str(spec) == text


@pytest.mark.parametrize(
    "text", ["", "worker", "ftp:x", "python:mod", "python:mod:not-ident", "http:", "http://"]
)
def test_bad_targets_say_what_a_target_looks_like(text: str) -> None:
    with pytest.raises(InvalidTarget):
        parse_target(text)


def test_curl_command_round_trips_through_the_shell() -> None:
    request = build_trigger_request(
        "http://127.0.0.1:8787/bucket", "nightly", user_agent="s3cr'et $x", note="it's"
    )
    words = shlex.split(render_curl(request))
    assert words[:6] == ["curl", "-fsS", "-X", "PUT", "-A", "s3cr'et $x"]
    assert words[-1] == "http://127.0.0.1:8787/bucket/triggers/nightly"
    assert words[-2] == '{"source":"cli","note":"it\'s"}'
    assert "$CRONBRIDGE_SECRET" in render_curl(request, secret_from_env=True)
    assert "s3cr" not in render_curl(request, secret_from_env=True)
