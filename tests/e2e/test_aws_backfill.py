"""`cronbridge backfill --backend aws` against `cronbridge sandbox up`: the same PUTs to
the trigger bucket that `trigger` sends, plain and signed, and the slots' runs found in
the DynamoDB ledger by their derived ids."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import numbered_jobs, write_jobs
from tests.e2e.test_aws_cli import SandboxProcess
from tests.e2e.test_aws_cli import sandbox as sandbox  # the fixture

WINDOW = ["--from", "2026-11-22T02:00:00Z", "--to", "2026-11-22T04:00:00Z"]


def test_backfill_fires_the_gap_through_the_trigger_bucket_once(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    jobs = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 3))
    args = ["groups", "register", "g", "--target", "lambda:worker", "--list", f"a={jobs}"]
    registered = sandbox.cli(*args, "--schedule", "0 * * * *")
    assert registered.returncode == 0, registered.stderr
    ran = sandbox.cli("trigger", "g", "--scheduled-time", "2026-11-22T02:00:00Z", "--wait")
    assert ran.returncode == 0, ran.stderr

    done = sandbox.cli("backfill", "g", *WINDOW, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(f["run"], f["decision"]) for f in report["fired"]] == [
        ("g.20261122T030000Z", "opened"),
        ("g.20261122T040000Z", "opened"),
    ]
    assert [r["run"] for r in report["already_ran"]] == ["g.20261122T020000Z"]
    watched = sandbox.cli("runs", "watch", "g.20261122T040000Z", "--timeout", "120")
    assert watched.returncode == 0, watched.stderr

    again = sandbox.cli("backfill", "g", *WINDOW, "--signed", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["fired"] == []
    signed = sandbox.cli(
        "trigger", "g", "--scheduled-time", "2026-11-22T03:00:00Z", "--signed", "--json"
    )
    assert json.loads(signed.stdout)["decision"] == "duplicate"
    runs = json.loads(sandbox.cli("runs", "list", "g", "--json").stdout)
    assert sorted((r["run"], r["state"]) for r in runs) == [
        ("g.20261122T020000Z", "succeeded"),
        ("g.20261122T030000Z", "succeeded"),
        ("g.20261122T040000Z", "succeeded"),
    ]
