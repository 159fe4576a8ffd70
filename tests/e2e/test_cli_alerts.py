"""`cronbridge alerts add|list|remove|test` as a user runs them (issue 13 item 3): the
secret shown once and then never, one message and exit 2 for a bad alert with nothing
stored, and `alerts test` against a real loopback webhook that answers 200 or 500."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.domain.controls import Controls
from bridge.local.home import Home
from bridge.local.registry import FileRegistry
from bridge.usecases.register import ListSource, register_group
from tests.alert_receiver import closed_port, expect_same_secret, expect_signature, receiver
from tests.conftest import FakeClock, numbered_jobs, write_jobs
from tests.e2e.conftest import DEADLINE, cli_env

TOPIC = "arn:aws:sns:us-east-1:123456789012:cronbridge-alerts"
SECRET_LINE = re.compile(r"^  (\S{43})$", re.MULTILINE)


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.env = cli_env(tmp_path)
        self.cwd = tmp_path
        self.registry = FileRegistry(Home.from_env().state_dir)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bridge", "alerts", *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )

    def stored(self) -> list[Path]:
        folder = self.registry.root / "alerts"
        return sorted(folder.iterdir()) if folder.exists() else []


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def register(cli: Cli, tmp_path: Path, group: str) -> None:
    jobs = write_jobs(tmp_path / f"{group}.jsonl", numbered_jobs("a", 2))
    register_group(
        group,
        "python:publishers.examples:echo",
        [ListSource.from_path("a", jobs)],
        Controls(),
        registry=cli.registry,
        clock=FakeClock(),
        check_target=lambda target, controls: None,
    )


def added_id(stdout: str) -> str:
    match = re.search(r"^added alert (a-[0-9a-f]{8}):", stdout, re.MULTILINE)
    assert match, stdout
    return match.group(1)


def test_add_shows_the_secret_once_and_list_never(cli: Cli, tmp_path: Path) -> None:
    register(cli, tmp_path, "nightly")
    done = cli(
        "add", "--group", "nightly", "--on", "failed,lost", "--webhook", "https://h.example.com/x"
    )
    assert done.returncode == 0, done.stderr
    alert_id = added_id(done.stdout)
    assert "shown once" in done.stdout
    secrets = SECRET_LINE.findall(done.stdout)
    assert len(secrets) == 1
    secret = secrets[0]
    assert done.stdout.count(secret) == 1 and secret not in done.stderr
    assert f"cronbridge alerts test {alert_id}" in done.stdout
    [stored] = cli.registry.list_alerts()
    assert (stored.id, stored.group) == (alert_id, "nightly")
    expect_same_secret(stored.secret, secret)

    table = cli("list")
    as_json = cli("list", "--json")
    assert table.returncode == as_json.returncode == 0
    assert alert_id in table.stdout and "failed,lost" in table.stdout
    assert "https://h.example.com/x" in table.stdout
    assert json.loads(as_json.stdout) == [
        {
            "id": alert_id,
            "group": "nightly",
            "on": ["failed", "lost"],
            "webhook": "https://h.example.com/x",
            "created_at": json.loads(as_json.stdout)[0]["created_at"],
        }
    ]
    for shown in (table, as_json):
        assert secret not in shown.stdout + shown.stderr


def test_an_sns_alert_for_every_group_needs_no_secret(cli: Cli) -> None:
    done = cli("add", "--on", "missed,late", "--sns-topic", TOPIC, "--json")
    assert done.returncode == 0, done.stderr
    added = json.loads(done.stdout)
    assert (added["group"], added["on"], added["sns"]) == (None, ["late", "missed"], TOPIC)
    assert "secret" not in added
    [stored] = cli.registry.list_alerts()
    assert stored.id == added["id"] and stored.secret is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--on", "failed", "--webhook", "ftp://h.example.com/x"], "must be http or https"),
        (["--on", "failed", "--webhook", "https:///x"], "names no host"),
        (["--on", "failed", "--webhook", "h.example.com/x"], "must be http or https"),
        (["--on", "failed,exploded", "--webhook", "https://h.example.com"], "'exploded'"),
        (["--on", "failed"], "exactly one of --webhook URL and --sns-topic ARN"),
        (
            ["--on", "failed", "--webhook", "https://h.example.com", "--sns-topic", TOPIC],
            "exactly one of",
        ),
        (["--on", "failed", "--sns-topic", "arn:aws:sqs:us-east-1:123456789012:q"], "not an SNS"),
        (["--on", "failed", "--group", "nope", "--sns-topic", TOPIC], "no group 'nope'"),
        (["--on", "failed", "--group", "Bad_Name", "--sns-topic", TOPIC], "invalid group name"),
    ],
)
def test_a_bad_alert_is_one_message_exit_2_and_nothing_stored(
    cli: Cli, args: list[str], message: str
) -> None:
    done = cli("add", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert lines[1].startswith("hint: ")
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert cli.stored() == [] and cli.registry.list_alerts() == []


def test_a_secret_file_is_used_and_never_printed(cli: Cli, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret = "receiver-side-secret-0123456789"
    secret_file.write_text(secret + "\n")
    done = cli(
        "add",
        "--on",
        "failed",
        "--webhook",
        "https://h.example.com",
        "--secret-file",
        str(secret_file),
    )
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout and "shown once" not in done.stdout
    expect_same_secret(cli.registry.list_alerts()[0].secret, secret)
    secret_file.write_text("short\n")
    weak = cli(
        "add",
        "--on",
        "failed",
        "--webhook",
        "https://h.example.com",
        "--secret-file",
        str(secret_file),
    )
    assert weak.returncode == 2 and "at least 16 characters" in weak.stderr
    assert "short" not in weak.stderr  # what the file held is not echoed
    assert len(cli.registry.list_alerts()) == 1


def test_remove_takes_the_alert_away_and_a_second_remove_says_so(cli: Cli) -> None:
    keep = added_id(cli("add", "--on", "failed", "--webhook", "https://keep.example.com").stdout)
    drop = added_id(cli("add", "--on", "failed", "--webhook", "https://drop.example.com").stdout)
    done = cli("remove", drop)
    assert (done.returncode, done.stdout) == (0, f"removed alert {drop}\n")
    assert [alert["id"] for alert in json.loads(cli("list", "--json").stdout)] == [keep]
    again = cli("remove", drop)
    assert again.returncode == 2
    assert again.stderr.splitlines() == [
        f"error: no alert {drop} is set",
        "hint: see `cronbridge alerts list`",
    ]
    for bad in ("../groups", "a-nothere"):
        assert cli("remove", bad).returncode == 2
    assert [a.id for a in cli.registry.list_alerts()] == [keep]


def test_alerts_test_says_the_webhook_took_it_signed_with_the_secret_shown(cli: Cli) -> None:
    with receiver([200], answer=b"got it") as hook:
        added = cli("add", "--on", "failed", "--webhook", hook.url)
        alert_id = added_id(added.stdout)
        secret = SECRET_LINE.findall(added.stdout)[0]
        done = cli("test", alert_id)
        posts = hook.received()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"alert {alert_id}: webhook http://127.0.0.1:{hook.server.server_address[1]}/... "
        "answered HTTP 200: got it"
    )
    assert len(posts) == 1
    post = posts[0]
    payload = json.loads(post.body)
    assert (payload["kind"], payload["test"], payload["alert"]) == ("test", True, alert_id)
    assert post.headers["X-Cronbridge-Event"] == "test"
    expect_signature(secret, post, time.time())


def test_alerts_test_exits_1_when_the_webhook_answers_500_or_is_not_there(cli: Cli) -> None:
    with receiver([500], answer=b"database down") as hook:
        alert_id = added_id(cli("add", "--on", "failed", "--webhook", hook.url).stdout)
        refused = cli("test", alert_id)
        as_json = cli("test", alert_id, "--json")  # the receiver answers 200 after its 500
        posts = hook.received()
    assert refused.returncode == 1
    assert refused.stdout == ""
    first = refused.stderr.splitlines()[0]
    assert first.startswith(f"error: alert {alert_id}: webhook http://127.0.0.1:")
    assert first.endswith("answered HTTP 500; it said: database down")
    assert (as_json.returncode, json.loads(as_json.stdout)["status"]) == (0, 200)
    assert len(posts) == 2

    gone = added_id(
        cli("add", "--on", "failed", "--webhook", f"http://127.0.0.1:{closed_port()}/h").stdout
    )
    unreachable = cli("test", gone, "--json")
    assert unreachable.returncode == 1
    result = json.loads(unreachable.stdout)
    assert (result["ok"], result["status"]) == (False, None)
    assert result["error"].startswith("cannot be reached")
    missing = cli("test", "a-00000000")
    assert missing.returncode == 2 and "no alert a-00000000" in missing.stderr
