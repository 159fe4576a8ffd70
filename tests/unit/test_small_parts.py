from __future__ import annotations

import shlex

import pytest

from bridge.domain.controls import Controls
from bridge.domain.durations import format_duration, parse_duration
from bridge.domain.groups import GroupManifest, ListManifest, plan_parts
from bridge.domain.plan import Pace, lanes, pace, root_units
from bridge.exceptions import InvalidInput, InvalidTarget
from publishers.targets import TargetSpec, parse_target
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


def paced(rate: float | None, *parts_per_list: int) -> GroupManifest:
    return GroupManifest(
        "g",
        1,
        "lambda:w",
        Controls(max_rate=rate),
        tuple(ListManifest(f"l{i}", plan_parts(n * 1000)) for i, n in enumerate(parts_per_list)),
        "-",
    )


@pytest.mark.parametrize(
    ("rate", "parts", "want_lanes", "want_pace"),
    [
        (10, (1000,), {"l0": 1}, Pace(10, 1.0)),  # 1M jobs at 10/s: one lane, not 1,000
        (250, (10,), {"l0": 3}, Pace(83, 83 / (250 / 3))),
        (1000, (2, 2), {"l0": 2, "l1": 2}, Pace(250, 1.0)),  # no more lanes than parts
        (0.5, (3,), {"l0": 1}, Pace(1, 2.0)),  # under one a second: one job a wake
        (0.0001, (1,), {"l0": 1}, Pace(1, 900.0)),  # at most SQS's longest delay apart
    ],
)
def test_a_paced_run_has_the_lanes_its_rate_needs(
    rate: float, parts: tuple[int, ...], want_lanes: dict[str, int], want_pace: Pace
) -> None:
    manifest = paced(rate, *parts)
    assert lanes(manifest) == want_lanes
    got = pace(manifest)
    assert got is not None and got.jobs == want_pace.jobs
    assert got.interval == pytest.approx(want_pace.interval)
    units = root_units("r", manifest, "t")
    assert len(units) == sum(want_lanes.values())
    covered = sorted((u.list_name, p) for u in units for p in range(u.first_part, u.end_part))
    assert covered == [(f"l{i}", p) for i, n in enumerate(parts) for p in range(n)]


def test_no_rate_means_the_tree() -> None:
    manifest = paced(None, 5)
    assert lanes(manifest) == {} and pace(manifest) is None
    assert [(u.first_part, u.end_part) for u in root_units("r", manifest, "t")] == [(0, 5)]


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
