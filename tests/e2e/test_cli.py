"""The CLI as a user meets it: clear errors with exit code 2, JSON for scripts, the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.cli.app import run_app
from bridge.local.home import Home
from tests.conftest import numbered_jobs, write_jobs
from tests.e2e.conftest import DEADLINE, cli_env


def state_files(home: Home) -> dict[str, bytes]:
    root = home.state_dir
    return (
        {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        if root.exists()
        else {}
    )


ECHO = "python:publishers.examples:echo"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_app(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def good_list(tmp_path: Path) -> Path:
    return write_jobs(tmp_path / "good.jsonl", numbered_jobs("a", 5))


def test_register_list_show_and_delete(capsys: pytest.CaptureFixture[str], good_list: Path) -> None:
    code, out, _ = run(
        capsys,
        "groups",
        "register",
        "nightly",
        "--target",
        "python:publishers.examples:echo",
        "--list",
        f"eu={good_list}",
        "--max-rate",
        "50",
        "--min-interval",
        "5m",
        "--overlap",
        "replace",
    )
    assert code == 0 and "registered nightly v1: 5 jobs in 1 list(s)" in out
    code, out, _ = run(capsys, "groups", "show", "nightly", "--json")
    shown = json.loads(out)
    assert shown["controls"]["min_interval"] == 300 and shown["controls"]["overlap"] == "replace"
    assert shown["lists"] == [{"name": "eu", "jobs": 5, "parts": [5]}]
    code, out, _ = run(capsys, "groups", "list", "--json")
    assert [g["group"] for g in json.loads(out)] == ["nightly"]
    code, out, _ = run(capsys, "groups", "show", "nightly")
    assert "max_rate      50/s" in out and "min_interval  5m" in out
    assert run(capsys, "groups", "delete", "nightly", "--yes")[0] == 0
    assert json.loads(run(capsys, "groups", "list", "--json")[1]) == []


def test_a_bad_list_reports_every_bad_line_and_registers_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, home: Home, good_list: Path
) -> None:
    register_g = ["groups", "register", "g", "--target", ECHO, "--list", f"a={good_list}"]
    run(capsys, *register_g)
    before = state_files(home)
    bad = write_jobs(
        tmp_path / "bad.jsonl",
        [
            '{"id": "a-1"}',
            "{oops",
            '{"id": "ok"}',
            '{"id": "ok"}',
            '{"id": "x", "payload": "' + "z" * 210_000 + '"}',
        ],
    )
    code, out, err = run(
        capsys,
        *register_g,
        "--list",
        f"b={bad}",
    )
    assert code == 2
    assert "the job lists have 4 problems; nothing was registered" in err
    for expected in [
        "list 'b' line 1: duplicate job id 'a-1' (first at list 'a' line 2)",
        "list 'b' line 2: not JSON",
        "list 'b' line 4: duplicate job id 'ok' (first at list 'b' line 3)",
        "list 'b' line 5: line is longer than 200 KiB",
    ]:
        assert expected in err
    assert "Traceback" not in err + out
    assert state_files(home) == before


def register_args(
    *extra: str, group: str = "g", target: str = ECHO, lists: str = "a=GOOD"
) -> list[str]:
    return ["groups", "register", group, "--target", target, "--list", lists, *extra]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (register_args(group="Bad_Name"), "invalid group name 'Bad_Name'"),
        (register_args(target="python:nowhere_module:f"), "cannot import module 'nowhere_module'"),
        (register_args(target="http://127.0.0.1:9/x"), "cannot reach target http://127.0.0.1:9/x"),
        (register_args(target="worker"), "target 'worker' is not one of"),
        (register_args(target="lambda:w"), "runs on AWS only"),
        (register_args(lists="a=/no/such/file"), "does not exist"),
        (register_args(lists="GOOD"), "must be NAME=FILE"),
        (register_args("--overlap", "maybe"), "overlap must be one of"),
        (register_args("--timeout", "soon"), "--timeout: cannot read 'soon'"),
        (register_args("--max-attempts", "5"), "max_attempts must be between 1 and 3"),
        (register_args("--max-rate", "0"), "max_rate must be more than 0"),
        (["groups", "show", "nope"], "group 'nope' is not registered"),
        (["groups", "delete", "nope", "--yes"], "group 'nope' is not registered"),
        (["runs", "show", "g.nope"], "run 'g.nope' is not in the ledger"),
        (["runs", "redrive", "g.nope"], "run 'g.nope' is not in the ledger"),
        (["trigger", "Bad"], "invalid group name 'Bad'"),
        (
            ["trigger", "g", "--scheduled-time", "tomorrow"],
            "--scheduled-time 'tomorrow' is not an RFC 3339 time",
        ),
        (["groups", "register", "g", "--target"], "requires an argument"),
        (["runs", "frobnicate"], "No such command"),
    ],
)
def test_user_mistakes_get_one_clear_message_and_exit_code_2(
    capsys: pytest.CaptureFixture[str], home: Home, good_list: Path, args: list[str], message: str
) -> None:
    args = [a.replace("GOOD", str(good_list)) for a in args]
    code, out, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err
    assert state_files(home) == {}


def test_trigger_without_a_running_server_says_how_to_start_one(
    capsys: pytest.CaptureFixture[str], home: Home
) -> None:
    home.save_endpoint(type(home.endpoint())(url="http://127.0.0.1:9", bucket="b"))
    code, _, err = run(capsys, "trigger", "g")
    assert code == 1
    assert (
        "cannot reach the trigger endpoint http://127.0.0.1:9/b" in err
        and "cronbridge serve" in err
    )


def test_curl_shows_the_secret_made_on_first_use(
    capsys: pytest.CaptureFixture[str], home: Home, good_list: Path
) -> None:
    # curl names a registered group only: a typo is a mistake, not a command that 404s
    register = ["groups", "register", "nightly", "--target", ECHO, "--list", f"a={good_list}"]
    assert run(capsys, *register)[0] == 0
    code, out, _ = run(capsys, "curl", "nightly", "--scheduled-time", "2026-11-22T03:00:00Z")
    secret = (home.root / "secret").read_text().strip()
    assert code == 0
    assert out.strip() == (
        f"curl -fsS -i -X PUT -A {secret} -H 'Content-Type: application/json' --data-binary "
        """'{"source":"curl","scheduled_time":"2026-11-22T03:00:00.000Z"}' """
        "http://127.0.0.1:8787/cronbridge-triggers/triggers/nightly"
    )
    assert (home.root / "secret").stat().st_mode & 0o777 == 0o600


def test_no_traceback_for_a_mistake_in_a_real_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "runs", "watch", "g.none"],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[0] == "error: run 'g.none' is not in the ledger"
    assert "Traceback" not in done.stderr


def test_demo_runs_a_thousand_jobs_to_success(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "demo"],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=DEADLINE * 3,
    )
    assert done.returncode == 0, done.stderr
    assert "registered group demo v1: 1,000 jobs in 2 lists" in done.stdout
    assert "succeeded: 1,000 succeeded, 0 failed of 1,000" in done.stdout
    assert "curl -fsS -X PUT -A " in done.stdout


def test_redrive_without_a_running_server_changes_nothing(
    capsys: pytest.CaptureFixture[str], home: Home
) -> None:
    from datetime import UTC, datetime

    from bridge.domain.results import JobRef, JobResult, JobStatus
    from bridge.domain.runs import Run, RunState
    from bridge.local.ledger import SqliteLedger
    from bridge.usecases.record import record_results

    t0 = datetime(2026, 11, 22, tzinfo=UTC)
    ledger = SqliteLedger(home.ledger_path)
    ledger.open_run(Run("g.r", "g", 1, RunState.RUNNING, 1, t0, t0), previous=None, cancel=None)
    failure = JobResult(JobRef("g.r", "g", "a", "j", "t", 1), JobStatus.FAILED, 3, t0, "E: x")
    assert record_results([failure], ledger=ledger).finished == ["g.r"]
    home.save_endpoint(type(home.endpoint())(url="http://127.0.0.1:9", bucket="b"))
    code, _, err = run(capsys, "runs", "redrive", "g.r")
    assert code == 1
    assert "no local runtime answers at http://127.0.0.1:9" in err
    after = ledger.get_run("g.r")
    assert after is not None and (after.state, after.failed, after.attempt) == (
        RunState.FAILED,
        1,
        1,
    )
    ledger.close()
