"""`cronbridge backfill` through a real `cronbridge serve`, as a user runs it after an
outage swallowed three slots of an hourly group (issue 13's "Done when")."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.domain.runs import RunState
from tests.conftest import numbered_jobs, write_jobs
from tests.e2e.conftest import Serve

GAP = ["g.20261122T030000Z", "g.20261122T040000Z", "g.20261122T050000Z"]
AROUND = ["g.20261122T020000Z", "g.20261122T060000Z"]
WINDOW = ["--from", "2026-11-22T02:00:00Z", "--to", "2026-11-22T06:00:00Z"]


def register_hourly(serve: Serve, tmp_path: Path, *options: str) -> None:
    jobs = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))
    target = "python:sample_workers:note_run"
    done = serve.cli("groups", "register", "g", "--target", target, "--list", f"a={jobs}", *options)
    assert done.returncode == 0, done.stderr


def runs_started(serve: Serve) -> list[str]:
    """The runs whose jobs started, in the order the first of each started."""
    path = serve.evidence / "runs.log"
    lines = path.read_text().split("\n") if path.exists() else []
    return list(dict.fromkeys(line.split()[0] for line in lines if line))


def test_a_3_slot_gap_opens_exactly_those_runs_in_order_and_none_twice(
    serve: Serve, tmp_path: Path
) -> None:
    register_hourly(serve, tmp_path, "--schedule", "0 * * * *")
    for slot in ("2026-11-22T02:00:00Z", "2026-11-22T06:00:00Z"):
        fired = serve.cli("trigger", "g", "--scheduled-time", slot, "--wait")
        assert fired.returncode == 0, fired.stderr

    dry = serve.cli("backfill", "g", *WINDOW, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert [line.split("run ")[1] for line in dry.stdout.splitlines()[:5]] == [
        f"{AROUND[0]}: ran (succeeded)",
        f"{GAP[0]}: would fire",
        f"{GAP[1]}: would fire",
        f"{GAP[2]}: would fire",
        f"{AROUND[1]}: ran (succeeded)",
    ]
    assert "3 slot(s) of g would be fired, 2 already ran; nothing was changed" in dry.stdout
    assert len(serve.ledger.list_runs("g", 10)) == 2

    done = serve.cli("backfill", "g", *WINDOW)
    assert done.returncode == 0, done.stderr
    fired_lines = [line for line in done.stdout.splitlines() if "  run " in line]
    assert fired_lines == [
        "2026-11-22T03:00:00.000Z  run g.20261122T030000Z: opened",
        "2026-11-22T04:00:00.000Z  run g.20261122T040000Z: opened",
        "2026-11-22T05:00:00.000Z  run g.20261122T050000Z: opened",
    ]
    # overlap skip (the default): each slot waited for the one before it to end
    assert "waiting for run g.20261122T030000Z to end (overlap skip)" in done.stdout
    assert done.stdout.splitlines()[-1] == (
        "backfill of g: 3 slot(s) fired (3 opened), 2 already ran"
    )
    for run_id in GAP:
        run = serve.wait_for_run(run_id)
        assert (run.state, run.scheduled, run.source) == (RunState.SUCCEEDED, True, "backfill")
    assert runs_started(serve) == [*AROUND, *GAP]

    again = serve.cli("backfill", "g", *WINDOW, "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert (report["fired"], report["counts"]) == ([], {})
    assert [ran["run"] for ran in report["already_ran"]] == sorted([*AROUND, *GAP])
    assert len(serve.ledger.list_runs("g", 10)) == 5
    # a slot fired again by hand is the same run: duplicate, never a second one
    by_hand = serve.cli("trigger", "g", "--scheduled-time", "2026-11-22T04:00:00Z", "--json")
    assert json.loads(by_hand.stdout)["decision"] == "duplicate"
    assert len(serve.ledger.list_runs("g", 10)) == 5
    assert runs_started(serve) == [*AROUND, *GAP]


def test_overlap_allow_fires_without_waiting_and_json_names_each_slot(
    serve: Serve, tmp_path: Path
) -> None:
    register_hourly(serve, tmp_path, "--schedule", "0 * * * *", "--overlap", "allow")
    done = serve.cli("backfill", "g", *WINDOW, "--limit", "2", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(f["run"], f["decision"]) for f in report["fired"]] == [
        ("g.20261122T020000Z", "opened"),
        ("g.20261122T030000Z", "opened"),
    ]
    assert report["counts"] == {"opened": 2}
    assert "waiting" not in done.stdout
    for fired in report["fired"]:
        assert serve.wait_for_run(fired["run"]).state is RunState.SUCCEEDED


def test_a_group_without_a_schedule_gets_one_message_and_a_hint(
    serve: Serve, tmp_path: Path
) -> None:
    register_hourly(serve, tmp_path)
    done = serve.cli("backfill", "g", *WINDOW)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        "error: group 'g' has no schedule, so it has no slots to backfill"
    )
    assert "--schedule" in done.stderr.splitlines()[1]
    assert done.stdout == ""


def test_an_unknown_group_and_a_huge_window_exit_2_and_fire_nothing(
    serve: Serve, tmp_path: Path
) -> None:
    unknown = serve.cli("backfill", "nope", *WINDOW)
    assert unknown.returncode == 2
    assert "not registered" in unknown.stderr
    register_hourly(serve, tmp_path, "--schedule", "* * * * *")
    huge = serve.cli("backfill", "g", "--from", "2026-11-01T00:00:00Z", "--to", WINDOW[3])
    assert huge.returncode == 2
    assert "more than 10,000 slots" in huge.stderr and "--limit" in huge.stderr
    bad = serve.cli("backfill", "g", "--from", "yesterday", "--to", WINDOW[3])
    assert bad.returncode == 2 and "--from" in bad.stderr
    assert serve.ledger.list_runs("g", 10) == []
