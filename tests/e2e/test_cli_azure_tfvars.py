"""`cronbridge azure tfvars`: the groups' schedules as the complete example's `groups`
variable, by the mapping `azure deploy-trigger` uses; what a recurrence cannot express is
left out with its reason on stderr. Then Terraform plans the example with that file and
deploys the same recurrences (offline, with the schema-only providers of tests/terraform)."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.cli.app import run_app
from tests.conftest import numbered_jobs, write_jobs
from tests.terraform.conftest import TERRAFORM_DIR, Terraform, terraform  # noqa: F401
from triggers.azure import Recurrence

ECHO = "python:publishers.examples:echo"
EXAMPLE = TERRAFORM_DIR / "examples" / "complete"
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]

#: what a recurrence can express, and what each becomes in the example's `groups`
NIGHTLY = {
    "frequency": "Day",
    "interval": 1,
    "hours": [3],
    "minutes": [0],
    "week_days": [],
    "time_zone": "UTC",
}
OFFICE = {
    "frequency": "Week",
    "interval": 1,
    "hours": [9],
    "minutes": [30],
    "week_days": WEEKDAYS,
    "time_zone": "UTC",
}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_app(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def registered(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[datetime, datetime]:
    """Groups with a daily cron, a weekday cron, a rate, a day of the month (which no
    recurrence expresses), a zone Logic Apps names otherwise, and none; the time span the
    rate's anchor falls in."""
    jobs = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))
    schedules: dict[str, tuple[str, ...]] = {
        "nightly": ("--schedule", "0 3 * * *"),
        "office": ("--schedule", "cron(30 9 ? * MON-FRI *)"),
        "ticker": ("--schedule", "rate(15 minutes)"),
        "monthly": ("--schedule", "0 3 1 * *"),
        "tokyo": ("--schedule", "0 3 * * *", "--time-zone", "Asia/Tokyo"),
        "plain": (),
    }
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    for group, extra in schedules.items():
        args = ("groups", "register", group, "--target", ECHO, "--list", f"a={jobs}", *extra)
        code, _, err = run(capsys, *args)
        assert code == 0, err
    return before, datetime.now(UTC)


def _left_out(err: str) -> dict[str, str]:
    """stderr's `GROUP: left out: REASON` lines, by group."""
    found: dict[str, str] = {}
    for line in err.splitlines():
        match = re.fullmatch(r"([a-z0-9-]+): left out: (.+)", line)
        if match:
            assert match[1] not in found, f"{match[1]} is named twice:\n{err}"
            found[match[1]] = match[2]
    return found


def test_every_scheduled_group_a_recurrence_expresses_is_written(
    capsys: pytest.CaptureFixture[str], registered: tuple[datetime, datetime]
) -> None:
    code, out, err = run(capsys, "azure", "tfvars")
    assert code == 0, err
    written = json.loads(out)
    assert list(written) == ["groups"]
    groups = written["groups"]
    assert sorted(groups) == ["nightly", "office", "ticker"]
    assert groups["nightly"] == NIGHTLY
    assert groups["office"] == OFFICE
    # A rate counts from its anchor, the minute its version was registered in (UTC).
    ticker = groups["ticker"]
    start = ticker.pop("start_time")
    assert ticker == {
        "frequency": "Minute",
        "interval": 15,
        "hours": [],
        "minutes": [],
        "week_days": [],
        "time_zone": "UTC",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00Z", start), start
    before, after = registered
    assert before <= datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) <= after

    # One line each for what was left out, with the reason; nothing for a group that has
    # no schedule and was not asked for.
    reasons = _left_out(err)
    assert sorted(reasons) == ["monthly", "tokyo"], err
    assert "cannot express '0 3 1 * *'" in reasons["monthly"]
    assert "'Asia/Tokyo'" in reasons["tokyo"] and "--time-zone" in reasons["tokyo"]
    assert len(err.strip().splitlines()) == 2, err


def test_a_zone_given_its_windows_name_is_written_with_it(
    capsys: pytest.CaptureFixture[str], registered: tuple[datetime, datetime]
) -> None:
    code, out, err = run(
        capsys, "azure", "tfvars", "tokyo", "--time-zone", "Asia/Tokyo=Tokyo Standard Time"
    )
    assert code == 0, err
    assert json.loads(out) == {"groups": {"tokyo": {**NIGHTLY, "time_zone": "Tokyo Standard Time"}}}
    assert err == ""


def test_named_groups_only_and_a_note_for_one_without_a_schedule(
    capsys: pytest.CaptureFixture[str], registered: tuple[datetime, datetime]
) -> None:
    code, out, err = run(capsys, "azure", "tfvars", "office", "plain")
    assert code == 0, err
    assert json.loads(out) == {"groups": {"office": OFFICE}}
    reasons = _left_out(err)
    assert list(reasons) == ["plain"] and "no schedule" in reasons["plain"], err


def test_nothing_to_write_exits_1_with_the_reasons(
    capsys: pytest.CaptureFixture[str], registered: tuple[datetime, datetime]
) -> None:
    code, out, err = run(capsys, "azure", "tfvars", "monthly", "plain", "nobody")
    assert code == 1
    assert out == ""
    assert sorted(_left_out(err)) == ["monthly", "nobody", "plain"], err
    assert "no group's schedule could be written" in err


def test_a_bad_time_zone_pair_is_one_message_and_exit_2(
    capsys: pytest.CaptureFixture[str], registered: tuple[datetime, datetime]
) -> None:
    code, out, err = run(capsys, "azure", "tfvars", "--time-zone", "Tokyo Standard Time")
    assert code == 2 and out == ""
    assert "ZONE=WINDOWS" in err and "Traceback" not in err


def _planned(plan: dict, address: str) -> dict:
    stack = [plan["planned_values"]["root_module"]]
    while stack:
        module = stack.pop()
        for resource in module.get("resources", []):
            if resource["address"] == address:
                return resource["values"]
        stack.extend(module.get("child_modules", []))
    raise AssertionError(f"{address} is not in the plan")


def test_the_example_plans_the_written_schedules_as_deploy_trigger_would(
    capsys: pytest.CaptureFixture[str],
    registered: tuple[datetime, datetime],
    terraform: Terraform,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`cronbridge azure tfvars > schedules.auto.tfvars.json` in the example: Terraform
    accepts the file as the `groups` variable and deploys one Logic App per group, whose
    recurrence is the one `deploy-trigger` deploys for it."""
    code, out, err = run(capsys, "azure", "tfvars")
    assert code == 0, err
    groups = json.loads(out)["groups"]
    written = tmp_path / "schedules.auto.tfvars.json"
    written.write_text(out)
    example = tmp_path / "example.tfvars"
    shutil.copy(EXAMPLE / "terraform.tfvars.example", example)
    plan = tmp_path / "example.tfplan"
    terraform.init(EXAMPLE)
    # Named after the example's own, so the written groups replace its sample ones, as a
    # *.auto.tfvars.json file does terraform.tfvars's.
    terraform.run(
        EXAMPLE, "plan", "-input=false", f"-var-file={example}", f"-var-file={written}",
        f"-out={plan}",
    )  # fmt: skip
    shown = json.loads(terraform.run(EXAMPLE, "show", "-json", str(plan)).stdout)

    deployments = sorted(
        change["address"]
        for change in shown["resource_changes"]
        if change["type"] == "azurerm_resource_group_template_deployment"
    )
    address = 'module.schedules.azurerm_resource_group_template_deployment.workflow["{}"]'
    assert deployments == [address.format(group) for group in sorted(groups)]
    for group, entry in groups.items():
        deployment = _planned(shown, address.format(group))
        [workflow] = json.loads(deployment["template_content"])["resources"]
        recurrence = Recurrence(
            entry["frequency"],
            entry["interval"],
            tuple(entry["hours"]),
            tuple(entry["minutes"]),
            tuple(entry["week_days"]),
            entry["time_zone"],
            entry.get("start_time"),
        )
        trigger = workflow["properties"]["definition"]["triggers"]["Schedule"]
        assert trigger["recurrence"] == recurrence.to_definition(), group
