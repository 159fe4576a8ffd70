"""`groups register --schedule --time-zone --slot-tolerance` and what `groups show`
says of a schedule; every mistake one message, one hint, exit code 2, nothing stored."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.cli.app import run_app
from bridge.domain.controls import Controls
from bridge.domain.schedules import parse_schedule
from bridge.local.home import Home
from bridge.local.runtime import LocalRuntime
from bridge.usecases.register import ListSource
from tests.conftest import numbered_jobs, write_jobs

ECHO = "python:publishers.examples:echo"
# Bounded by its year field, so the next three slots do not depend on today's date.
NEW_YEARS = "cron(0 3 1 1 ? 2030-2032)"


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    return write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_app(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def register(jobs: Path, *extra: str) -> list[str]:
    return ["groups", "register", "g", "--target", ECHO, "--list", f"a={jobs}", *extra]


def test_show_prints_the_schedule_its_zone_tolerance_and_next_three_slots(
    capsys: pytest.CaptureFixture[str], jobs: Path
) -> None:
    args = ("--schedule", NEW_YEARS, "--time-zone", "Europe/London", "--slot-tolerance", "2m")
    code, _, err = run(capsys, *register(jobs, *args))
    assert code == 0, err
    code, out, _ = run(capsys, "groups", "show", "g")
    assert code == 0
    assert f"schedule      {NEW_YEARS} (Europe/London), slot tolerance 2m" in out
    assert (
        "next slots    2030-01-01T03:00:00+00:00, 2031-01-01T03:00:00+00:00,"
        " 2032-01-01T03:00:00+00:00"
    ) in out


def test_show_json_gives_the_schedule_and_its_next_slots(
    capsys: pytest.CaptureFixture[str], jobs: Path
) -> None:
    code, out, _ = run(
        capsys,
        *register(jobs, "--schedule", NEW_YEARS, "--time-zone", "America/New_York", "--json"),
    )
    assert code == 0
    registered = json.loads(out)
    shown = json.loads(run(capsys, "groups", "show", "g", "--json")[1])
    expected = {
        "expression": NEW_YEARS,
        "time_zone": "America/New_York",
        "slot_tolerance": 300.0,
        "next_slots": [
            "2030-01-01T08:00:00.000Z",
            "2031-01-01T08:00:00.000Z",
            "2032-01-01T08:00:00.000Z",
        ],
    }
    assert registered["schedule"] == shown["schedule"] == expected
    listed = json.loads(run(capsys, "groups", "list", "--json")[1])
    assert listed[0]["schedule"] == expected


def test_a_group_without_a_schedule_shows_none(
    capsys: pytest.CaptureFixture[str], jobs: Path
) -> None:
    assert run(capsys, *register(jobs))[0] == 0
    assert "schedule" not in run(capsys, "groups", "show", "g")[1]
    assert "schedule" not in json.loads(run(capsys, "groups", "show", "g", "--json")[1])


def test_a_schedule_with_no_slot_left_says_none(
    capsys: pytest.CaptureFixture[str], jobs: Path
) -> None:
    assert run(capsys, *register(jobs, "--schedule", "cron(0 3 1 1 ? 2020)"))[0] == 0
    assert "next slots    none" in run(capsys, "groups", "show", "g")[1]


@pytest.mark.parametrize(
    ("extra", "message", "hint"),
    [
        (("--schedule", "every night"), "--schedule 'every night'", "cron(0 3 ? * MON-FRI *)"),
        (("--schedule", "cron(0 3 * * MON *)"), "is '?'", "cron(0 3 ? * MON-FRI *)"),
        (("--schedule", "rate(0 hours)"), "N 1 or more", "rate(15 minutes)"),
        (
            ("--schedule", "0 3 * * *", "--time-zone", "Europe/Londn"),
            "--time-zone 'Europe/Londn'",
            "Europe/London",
        ),
        (
            ("--time-zone", "Europe/London"),
            "--time-zone needs --schedule",
            "--schedule '0 3 * * *'",
        ),
        (("--slot-tolerance", "5m"), "--slot-tolerance needs --schedule", "--schedule"),
        (
            ("--schedule", "0 3 * * *", "--slot-tolerance", "soon"),
            "--slot-tolerance: cannot read 'soon'",
            "5m",
        ),
    ],
)
def test_a_bad_schedule_gets_one_message_one_hint_exit_2_and_nothing_stored(
    capsys: pytest.CaptureFixture[str],
    jobs: Path,
    extra: tuple[str, ...],
    message: str,
    hint: str,
) -> None:
    code, out, err = run(capsys, *register(jobs, *extra))
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    hints = [line for line in err.splitlines() if line.startswith("hint: ")]
    assert code == 2
    assert len(errors) == 1 and message in errors[0], err
    assert len(hints) == 1 and hint in hints[0], err
    assert "Traceback" not in out + err
    assert json.loads(run(capsys, "groups", "list", "--json")[1]) == []


def test_register_help_names_the_schedule_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "groups", "register", "--help")
    assert code == 0
    for option in ("--schedule", "--time-zone", "--slot-tolerance"):
        assert option in out


def test_the_local_runtime_registers_a_schedule_too(home: Home, jobs: Path) -> None:
    runtime = LocalRuntime(home, workers=1)
    try:
        schedule = parse_schedule("rate(1 hour)", slot_tolerance=30)
        runtime.register(
            "g", ECHO, [ListSource.from_path("a", jobs)], Controls(), schedule=schedule
        )
        stored = runtime.registry.load_manifest("g").schedule
    finally:
        runtime.close()
    assert stored is not None and stored.interval == timedelta(hours=1)
    assert stored.slot_tolerance == 30 and stored.anchor is not None
