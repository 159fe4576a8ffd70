"""Tolerated failures through a real `cronbridge serve` and the CLI, as a user meets
them: a run within `--tolerated-failures` succeeds (exit code 0) and says what it
tolerated, one failure more fails it (exit code 1), and the tolerated ones redrive."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.domain.runs import RunState
from tests.conftest import numbered_jobs, write_jobs
from tests.e2e.conftest import Serve
from tests.e2e.test_serve import register

FRAGILE = "python:sample_workers:fail_while_broken"


def jobs(fragile: int) -> dict[str, list[dict[str, object]]]:
    broken = [{"id": f"fragile-{i}", "payload": {"fragile": True}} for i in range(fragile)]
    return {"a": numbered_jobs("a", 6) + broken}


def test_failures_within_the_tolerance_succeed_one_more_fails(serve: Serve, tmp_path: Path) -> None:
    options = ("--max-attempts", "1", "--tolerated-failures", "2")
    register(serve, tmp_path, FRAGILE, jobs(fragile=2), *options)
    shown = serve.cli("groups", "show", "g")
    assert "tolerated_failures up to 2 jobs may fail or be lost" in shown.stdout
    assert (
        json.loads(serve.cli("groups", "show", "g", "--json").stdout)["controls"][
            "tolerated_failures"
        ]
        == "2"
    )
    (serve.evidence / "broken").touch()

    equal = serve.cli("trigger", "g", "--scheduled-time", "2026-11-22T03:00:00Z", "--wait")
    assert equal.returncode == 0, equal.stdout + equal.stderr
    run_id = "g.20261122T030000Z"
    assert f"run {run_id} succeeded (2 failed, tolerated): 6 succeeded, 2 failed of 8" in (
        equal.stdout
    )
    listed = serve.cli("runs", "list", "g")
    assert "succeeded (2 failed, tolerated)" in listed.stdout
    data = json.loads(serve.cli("runs", "show", run_id, "--json").stdout)
    assert (data["state"], data["succeeded"], data["failed"], data["lost"]) == (
        "succeeded",
        6,
        2,
        0,
    )
    assert data["tolerated_failures"] == "2"
    assert sorted(j["job"] for j in data["failed_jobs"]) == ["fragile-0", "fragile-1"]
    watched = serve.cli("runs", "watch", run_id)
    assert watched.returncode == 0 and "succeeded (2 failed, tolerated)" in watched.stdout

    register(serve, tmp_path, FRAGILE, jobs(fragile=3), *options)
    more = serve.cli("trigger", "g", "--scheduled-time", "2026-11-22T04:00:00Z", "--wait")
    assert more.returncode == 1, more.stdout + more.stderr
    assert "run g.20261122T040000Z failed: 6 succeeded, 3 failed of 9" in more.stdout

    (serve.evidence / "broken").unlink()  # the fix lands
    (serve.evidence / "calls.log").unlink()
    redrive = serve.cli("runs", "redrive", run_id, "--wait")
    assert redrive.returncode == 0, redrive.stdout + redrive.stderr
    assert "redriving 2 failed or lost job(s)" in redrive.stdout
    assert f"run {run_id} succeeded: 8 succeeded, 0 failed of 8" in redrive.stdout
    assert sorted(serve.calls()) == ["fragile-0", "fragile-1"]
    run = serve.ledger.get_run(run_id)
    assert run is not None and (run.state, run.attempt, run.failed) == (RunState.SUCCEEDED, 2, 0)

    again = serve.cli("runs", "redrive", run_id)
    assert again.returncode == 2
    assert "only a failed run can be redriven, or one that succeeded with tolerated" in (
        again.stderr
    )
    assert "hint: every job of it succeeded" in again.stderr


def test_a_bad_tolerance_is_refused_and_nothing_is_stored(serve: Serve, tmp_path: Path) -> None:
    good = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))
    for bad, message in [
        ("101%", "must be a percentage from 0% to 100%, not 101%"),
        ("-2", "must be 0 or more, not -2"),
        ("few", "must be a number of jobs or a percentage, not 'few'"),
    ]:
        args = ["groups", "register", "g", "--target", FRAGILE, "--tolerated-failures", bad]
        done = serve.cli(*args, "--list", f"a={good}")
        assert done.returncode == 2, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        hints = [line for line in done.stderr.splitlines() if line.startswith("hint: ")]
        assert len(errors) == 1 and message in errors[0], done.stderr
        assert len(hints) == 1 and "--tolerated-failures 2.5%" in hints[0]
    assert json.loads(serve.cli("groups", "list", "--json").stdout) == []
