"""`azure deploy-trigger GROUP` without --every: the group's schedule as a Logic Apps
recurrence, where a recurrence can express it, and one clear error where it cannot."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.cli.app import run_app
from bridge.domain.schedules import parse_schedule
from bridge.exceptions import InvalidInput
from bridge.local.home import Home
from tests.conftest import numbered_jobs, write_jobs
from triggers.azure import Recurrence, recurrence_from_schedule

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
REGISTERED = datetime(2026, 11, 22, 3, 0, 42, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "zone", "windows_zone", "expected"),
    [
        ("0 3 * * *", "UTC", None, Recurrence("Day", 1, (3,), (0,), (), "UTC")),
        ("*/30 8-9 * * *", "+00:00", None, Recurrence("Day", 1, (8, 9), (0, 30), (), "UTC")),
        (
            "cron(30 8 ? * MON-FRI *)",
            "Europe/London",
            "GMT Standard Time",
            Recurrence("Week", 1, (8,), (30,), WEEKDAYS, "GMT Standard Time"),
        ),
        ("0 3 * * 0", "UTC", None, Recurrence("Week", 1, (3,), (0,), ("Sunday",), "UTC")),
        (
            "cron(0 3 ? * 1,7 *)",
            "UTC",
            None,
            Recurrence("Week", 1, (3,), (0,), ("Sunday", "Saturday"), "UTC"),
        ),
    ],
)
def test_times_of_day_become_a_day_or_week_recurrence(
    expression: str, zone: str, windows_zone: str | None, expected: Recurrence
) -> None:
    schedule = parse_schedule(expression, zone)
    assert recurrence_from_schedule(schedule, time_zone=windows_zone) == expected


@pytest.mark.parametrize(
    ("expression", "frequency", "interval"),
    [
        ("rate(15 minutes)", "Minute", 15),
        ("rate(60 minutes)", "Hour", 1),
        ("rate(2 hours)", "Hour", 2),
        ("rate(3 days)", "Day", 3),
    ],
)
def test_a_rate_becomes_an_interval_from_its_anchor(
    expression: str, frequency: str, interval: int
) -> None:
    schedule = parse_schedule(expression).anchored_at(REGISTERED)
    recurrence = recurrence_from_schedule(schedule)
    assert recurrence == Recurrence(
        frequency, interval, time_zone="UTC", start_time="2026-11-22T03:00:00Z"
    )
    assert recurrence.to_definition() == {
        "frequency": frequency,
        "interval": interval,
        "timeZone": "UTC",
        "startTime": "2026-11-22T03:00:00Z",
    }


@pytest.mark.parametrize(
    ("expression", "zone", "words", "hint"),
    [
        ("0 3 1 * *", "UTC", "cannot express '0 3 1 * *'", "--every"),
        ("0 3 * 6 *", "UTC", "cannot express", "--every"),
        ("cron(0 3 L * ? *)", "UTC", "cannot express", "--every"),
        ("cron(0 3 ? * 2#1 *)", "UTC", "cannot express", "--every"),
        ("cron(0 3 * * ? 2030)", "UTC", "cannot express", "--every"),
        # a zone other than UTC needs its Windows name
        ("0 3 * * *", "America/New_York", "--time-zone", "Eastern Standard Time"),
        ("0 3 * * *", "+09:00", "--time-zone", "GMT Standard Time"),
    ],
)
def test_what_a_recurrence_cannot_take_names_the_flag_to_give(
    expression: str, zone: str, words: str, hint: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(words)) as info:
        recurrence_from_schedule(parse_schedule(expression, zone))
    assert hint in str(info.value.hint)


# -- the command -------------------------------------------------------------------------

DEPLOY = ["azure", "deploy-trigger", "g", "--resource-group", "rg", "--location", "westeurope"]


def register(tmp_path: Path, *schedule: str) -> None:
    jobs = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 1))
    args = ["groups", "register", "g", "--target", "python:publishers.examples:echo"]
    assert run_app([*args, "--list", f"a={jobs}", *schedule]) == 0


@pytest.mark.parametrize(
    ("schedule", "extra", "words"),
    [
        ((), (), "group 'g' has no schedule to deploy"),
        (("--schedule", "0 3 1 * *"), (), "cannot express '0 3 1 * *'"),
        (
            ("--schedule", "0 3 * * *", "--time-zone", "Asia/Tokyo"),
            (),
            "give its Windows name with --time-zone",
        ),
        (("--schedule", "0 3 * * *"), ("--at", "03:00"), "--at and --on go with --every"),
    ],
)
def test_deploy_trigger_without_every_says_what_it_cannot_take(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    schedule: tuple[str, ...],
    extra: tuple[str, ...],
    words: str,
) -> None:
    register(tmp_path, *schedule)
    capsys.readouterr()
    assert run_app([*DEPLOY, *extra]) == 2
    err = capsys.readouterr().err
    assert words in err and "hint: " in err and "Traceback" not in err


def test_deploy_trigger_takes_the_groups_schedule_before_it_needs_azure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, home: Home
) -> None:
    register(tmp_path, "--schedule", "cron(0 3 ? * MON-FRI *)")
    home.root.mkdir(parents=True, exist_ok=True)
    (home.root / "aws.json").write_text(
        json.dumps({"CRONBRIDGE_TRIGGER_BUCKET": "b", "CRONBRIDGE_TRIGGER_SECRET": "s"})
    )
    capsys.readouterr()
    # the schedule is taken; what stops it is the next step: no Azure subscription
    assert run_app(DEPLOY) == 2
    assert "no Azure subscription given" in capsys.readouterr().err
