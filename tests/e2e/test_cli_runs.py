"""The run commands as a user meets them: run ids that are never cut and may be
shortened, waits that end and say why, JSON wherever something is read, and each job's
status, result and error."""

from __future__ import annotations

import csv
import io
import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from bridge.cli.app import print_json, run_app
from bridge.domain.results import JobRef, JobResult, JobStatus
from bridge.domain.runs import Run, RunState
from bridge.local.home import Endpoint, Home
from bridge.local.ledger import SqliteLedger
from bridge.usecases.record import record_results
from tests.conftest import numbered_jobs, write_jobs
from tests.e2e.conftest import DEADLINE, Serve, cli_env

ECHO = "python:publishers.examples:echo"
FIRST = "g.m-f1746a9e51b7d4c8"  # two runs whose ids share their first 9 characters
SECOND = "g.m-f1746b00c0ffee00"
DOWN = "http://127.0.0.1:9"  # nothing listens there: serve is not running
BROKEN = "RuntimeError: job a-2 is broken\nTraceback (most recent call last):\n  in handler"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_app(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def result(job: str, list_name: str, status: JobStatus, **fields: Any) -> JobResult:
    ref = JobRef(FIRST, "g", list_name, job, "2026-11-22T03:00:00.000Z", 1, part=0)
    return JobResult(ref, status, fields.pop("tries", 1), datetime.now(UTC), **fields)


@pytest.fixture
def ledger(
    capsys: pytest.CaptureFixture[str], home: Home, tmp_path: Path
) -> Iterator[SqliteLedger]:
    """Group g (list a: a-0..a-2, list b: b-0, b-1) and two running runs, with no serve.

    FIRST has results for a-0 (succeeded), a-2 (failed) and b-1 (lost), none for a-1 and
    b-0, and no part of it has been marked dispatched; SECOND has none.
    """
    lists = [
        f"{name}={write_jobs(tmp_path / f'{name}.jsonl', numbered_jobs(name, count))}"
        for name, count in (("a", 3), ("b", 2))
    ]
    code, _, err = run(
        capsys,
        "groups",
        "register",
        "g",
        "--target",
        ECHO,
        "--list",
        *lists[:1],
        "--list",
        *lists[1:],
    )
    assert code == 0, err
    opened = datetime.now(UTC) - timedelta(seconds=90)
    store = SqliteLedger(home.ledger_path)
    store.open_run(
        Run(FIRST, "g", 1, RunState.RUNNING, 5, opened, opened), previous=None, cancel=None
    )
    record_results(
        [
            result(
                "a-0", "a", JobStatus.SUCCEEDED, output='{"checksum":"c0ffee"}', duration_ms=12.0
            ),
            result("a-2", "a", JobStatus.FAILED, tries=3, error=BROKEN, duration_ms=40.0),
            result("b-1", "b", JobStatus.LOST, error="no result by the run's deadline"),
        ],
        ledger=store,
    )
    store.open_run(
        Run(SECOND, "g", 1, RunState.RUNNING, 5, opened, opened), previous=FIRST, cancel=None
    )
    home.save_endpoint(Endpoint(url=DOWN, bucket="cronbridge-triggers"))
    yield store
    store.close()


# -- 7. run ids ----------------------------------------------------------------------------


def test_runs_list_shows_whole_run_ids_in_80_columns(ledger: SqliteLedger, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "runs", "list"],
        env={**cli_env(tmp_path), "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 0, done.stderr
    assert FIRST in done.stdout and SECOND in done.stdout
    assert "…" not in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 80


def test_a_unique_prefix_or_group_at_latest_names_a_run(
    capsys: pytest.CaptureFixture[str], ledger: SqliteLedger
) -> None:
    code, out, err = run(capsys, "runs", "show", FIRST[:10], "--json")
    assert code == 0, err
    assert json.loads(out)["run"] == FIRST
    code, out, _ = run(capsys, "runs", "show", "g@latest", "--json")
    assert json.loads(out)["run"] == SECOND
    code, out, _ = run(capsys, "runs", "jobs", FIRST[:10], "--json")
    assert code == 0 and {j["job"] for j in json.loads(out)} >= {"a-0", "a-2", "b-1"}

    code, out, err = run(capsys, "runs", "cancel", SECOND[:10], "--reason", "by prefix")
    assert code == 0, err
    assert f"run {SECOND} cancelled" in out
    code, out, _ = run(capsys, "runs", "watch", "g@latest")
    assert code == 1 and f"run {SECOND} cancelled" in out

    # redrive and resume find the run, then need serve: they say so, not "no such run"
    for command in ("redrive", "resume"):
        code, _, err = run(capsys, "runs", command, SECOND[:10])
        assert (code, "not in the ledger" in err) == (1, False), err
        assert f"no local runtime answers at {DOWN}" in err


def test_an_ambiguous_prefix_lists_its_candidates(
    capsys: pytest.CaptureFixture[str], ledger: SqliteLedger
) -> None:
    code, out, err = run(capsys, "runs", "show", FIRST[:9])
    assert code == 2 and out == ""
    assert f"'{FIRST[:9]}' matches 2 runs: {SECOND}, {FIRST}" in err
    assert "hint: type more of the run id, or `g@latest` for the newest" in err
    assert "Traceback" not in err
    code, _, err = run(capsys, "runs", "show", "g.m-0")
    assert code == 2 and "run 'g.m-0' is not in the ledger" in err
    code, _, err = run(capsys, "runs", "show", "h@latest")
    assert code == 2 and "group 'h' has no runs" in err


def test_the_printed_curl_command_shows_the_run_it_opened(serve: Serve, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    jobs = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))
    made = serve.cli(
        "groups", "register", "g", "--target", "python:sample_workers:note", "--list", f"a={jobs}"
    )
    assert made.returncode == 0, made.stderr
    printed = serve.cli("curl", "g")
    assert printed.returncode == 0, printed.stderr
    fired = subprocess.run(
        shlex.split(printed.stdout.strip()), capture_output=True, text=True, timeout=DEADLINE
    )
    assert fired.returncode == 0, fired.stderr
    headers = dict(line.split(": ", 1) for line in fired.stdout.splitlines() if ": " in line)
    run_id = headers["x-cronbridge-run"].strip()
    assert headers["x-cronbridge-decision"].strip() == "opened"
    assert serve.wait_for_run(run_id).state is RunState.SUCCEEDED


# -- 8. waiting ----------------------------------------------------------------------------


def test_watch_says_serve_is_down_and_gives_up_at_its_timeout(
    capsys: pytest.CaptureFixture[str], ledger: SqliteLedger
) -> None:
    code, out, err = run(capsys, "runs", "watch", FIRST[:10], "--timeout", "0.5")
    assert code == 124
    assert f"serve is not running at {DOWN}; start it with `cronbridge serve`" in err
    assert f"run {FIRST} is still running after 0.5s: 3 of 5 jobs have a result" in err
    assert f"`cronbridge runs watch {FIRST}`" in err
    # not a terminal: a progress line, its counters agreeing with each other
    assert f"run {FIRST} running: 3 of 5 jobs have a result (dispatched 3, succeeded 1," in out


def test_show_never_says_fewer_dispatched_than_have_a_result(
    capsys: pytest.CaptureFixture[str], ledger: SqliteLedger
) -> None:
    code, out, _ = run(capsys, "runs", "show", FIRST)
    assert code == 0 and "dispatched 3," in out
    code, out, _ = run(capsys, "runs", "list", "g", "--json")
    assert [r["dispatched"] for r in json.loads(out)] == [0, 3]


def test_trigger_wait_in_a_pipe_shows_progress_and_ends_at_its_timeout(
    serve: Serve, tmp_path: Path
) -> None:
    jobs = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))
    made = serve.cli(
        "groups",
        "register",
        "g",
        "--target",
        "python:sample_workers:wait_for_gate",
        "--list",
        f"a={jobs}",
    )
    assert made.returncode == 0, made.stderr
    waited = serve.cli("trigger", "g", "--wait", "--timeout", "1")
    assert waited.returncode == 124, waited.stderr
    opened, progress = waited.stdout.splitlines()[:2]
    run_id = opened.split(":", 1)[0].removeprefix("run ")
    assert opened == f"run {run_id}: opened"
    assert progress.startswith(f"run {run_id} running: 0 of 2 jobs have a result (dispatched")
    assert f"run {run_id} is still running after 1s" in waited.stderr
    assert f"`cronbridge runs watch {run_id}`" in waited.stderr

    # cancel and resume take a prefix too
    cancelled = serve.cli("runs", "cancel", run_id[:8])
    assert cancelled.returncode == 0, cancelled.stderr
    (serve.evidence / "gate").touch()
    resumed = serve.cli("runs", "resume", run_id[:8], "--wait", "--timeout", "1m")
    assert resumed.returncode == 0, resumed.stderr
    assert f"run {run_id} succeeded: 2 succeeded, 0 failed of 2" in resumed.stdout


# -- 9. JSON wherever something is read ---------------------------------------------------


def test_trigger_wait_json_prints_the_finished_run(serve: Serve, tmp_path: Path) -> None:
    jobs = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 3))
    made = serve.cli(
        "groups", "register", "g", "--target", "python:sample_workers:note", "--list", f"a={jobs}"
    )
    assert made.returncode == 0, made.stderr
    done = serve.cli("trigger", "g", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout)
    assert (final["state"], final["succeeded"], final["total"], final["decision"]) == (
        "succeeded",
        3,
        3,
        "opened",
    )
    assert final["dispatched"] == 3 and final["finished_at"] is not None


def test_watch_json_prints_one_object_a_line(
    capsys: pytest.CaptureFixture[str], ledger: SqliteLedger
) -> None:
    code, out, _ = run(capsys, "runs", "watch", FIRST, "--json", "--timeout", "0")
    assert code == 124
    [line] = out.splitlines()
    record = json.loads(line)
    assert (record["run"], record["state"], record["done"], record["dispatched"]) == (
        FIRST,
        "running",
        3,
        3,
    )
    run(capsys, "runs", "cancel", SECOND)
    code, out, _ = run(capsys, "runs", "watch", SECOND, "--json")
    assert code == 1
    assert [json.loads(line)["state"] for line in out.splitlines()] == ["cancelled"]


def test_json_has_no_infinity_or_nan(capsys: pytest.CaptureFixture[str]) -> None:
    print_json({"max_rate": float("inf"), "floor": float("-inf"), "ratio": [float("nan"), 0.5]})
    strict = json.loads(
        capsys.readouterr().out, parse_constant=lambda name: pytest.fail(f"{name} in JSON")
    )
    assert strict == {"max_rate": None, "floor": None, "ratio": [None, 0.5]}


def test_doctor_json_lists_every_finding(
    aws: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("s3").create_bucket(Bucket="cronbridge-state")
    for name, value in {
        "CRONBRIDGE_STATE_BUCKET": "cronbridge-state",
        "CRONBRIDGE_TRIGGER_BUCKET": "cronbridge-triggers",
        "CRONBRIDGE_LEDGER_TABLE": "cronbridge-ledger",
        "CRONBRIDGE_PUBLISHER_FUNCTION": "cronbridge-publisher",
    }.items():
        monkeypatch.setenv(name, value)
    code, out, err = run(capsys, "doctor", "--auth-mode", "user_agent", "--json")
    assert code == 1, err
    findings = json.loads(out)
    assert findings and all({"subject", "ok", "detail", "fix"} <= set(f) for f in findings)
    assert any(f["ok"] is False and f["fix"] for f in findings)


# -- the job view ---------------------------------------------------------------------------


def test_jobs_lists_results_then_pending_jobs_as_csv(
    capsys: pytest.CaptureFixture[str], ledger: SqliteLedger
) -> None:
    code, out, err = run(capsys, "runs", "jobs", FIRST, "--csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["list"], r["job"], r["status"]) for r in rows] == [
        ("a", "a-0", "succeeded"),
        ("a", "a-2", "failed"),
        ("b", "b-1", "lost"),
        ("a", "a-1", "pending"),
        ("b", "b-0", "pending"),
    ]
    assert rows[0]["output"] == '{"checksum":"c0ffee"}' and rows[1]["error"] == BROKEN
    assert rows[1]["tries"] == "3" and rows[3]["tries"] == ""

    code, out, _ = run(
        capsys, "runs", "jobs", FIRST, "--status", "pending", "--list", "a", "--json"
    )
    assert [(j["job"], j["status"]) for j in json.loads(out)] == [("a-1", "pending")]
    code, out, err = run(capsys, "runs", "jobs", FIRST, "--limit", "2", "--json")
    assert [j["job"] for j in json.loads(out)] == ["a-0", "a-2"]
    assert "2 of 5 job(s) shown" in err
    code, out, _ = run(capsys, "runs", "jobs", FIRST, "--status", "failed")
    assert "RuntimeError: job a-2 is broken" in out and "Traceback" not in out
    code, _, err = run(capsys, "runs", "jobs", FIRST, "--list", "c")
    assert code == 2 and "has no list 'c'" in err
    code, _, err = run(capsys, "runs", "jobs", FIRST, "--json", "--csv")
    assert code == 2 and "choose one" in err


def test_show_breaks_counts_down_by_list_and_cuts_the_failed_list_visibly(
    capsys: pytest.CaptureFixture[str], ledger: SqliteLedger
) -> None:
    code, out, _ = run(capsys, "runs", "show", FIRST, "--json", "--failed", "1")
    shown = json.loads(out)
    assert shown["lists"] == [
        {"list": "a", "jobs": 3, "succeeded": 1, "failed": 1, "lost": 0, "pending": 1},
        {"list": "b", "jobs": 2, "succeeded": 0, "failed": 0, "lost": 1, "pending": 1},
    ]
    assert [j["job"] for j in shown["failed_jobs"]] == ["a-2"]
    assert shown["failed_jobs_not_shown"] == 1
    code, out, _ = run(capsys, "runs", "show", FIRST, "--failed", "1")
    assert code == 0
    assert "jobs by list" in out
    assert "and 1 more failed or lost job(s)" in out
    code, out, _ = run(capsys, "runs", "show", FIRST)
    assert out.index("a-2") < out.index("b-1")  # by list, then job id


def test_show_job_prints_its_whole_error(
    capsys: pytest.CaptureFixture[str], ledger: SqliteLedger
) -> None:
    code, out, _ = run(capsys, "runs", "show", FIRST[:10], "--job", "a-2")
    assert code == 0
    assert "job a-2 of list a" in out and "failed at attempt 1 after 3 tries" in out
    assert BROKEN in out
    code, out, _ = run(capsys, "runs", "show", FIRST, "--job", "a-0", "--json")
    assert json.loads(out)["output"] == '{"checksum":"c0ffee"}'
    code, _, err = run(capsys, "runs", "show", FIRST, "--job", "a-1")
    assert code == 2 and f"run {FIRST} has no result for job 'a-1'" in err
