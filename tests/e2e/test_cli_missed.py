"""Missed and late slots as `runs list` and `runs show` show them (issue 13, item 2): the
slots are recorded by the sweep's use case with a clock two hours ahead, no serve runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.cli.app import run_app
from bridge.domain.deadlines import Timing
from bridge.domain.triggers import TriggerEvent, format_time, slot_run_id
from bridge.local.home import Home
from bridge.local.ledger import SqliteLedger
from bridge.local.registry import FileRegistry
from bridge.usecases.dispatch import handle_trigger
from bridge.usecases.slots import check_slots
from tests.conftest import FakeClock, numbered_jobs, write_jobs
from tests.fakes import RecordingInvoker


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_app(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_runs_list_shows_missed_slots_and_a_late_run(
    capsys: pytest.CaptureFixture[str], home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    jobs = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))
    code, _, err = run(
        capsys,
        "groups",
        "register",
        "g",
        "--target",
        "python:publishers.examples:echo",
        "--list",
        f"a={jobs}",
        "--schedule",
        "0 * * * *",
    )
    assert code == 0, err
    now = datetime.now(UTC)
    first = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    second = first + timedelta(hours=1)
    clock = FakeClock(second + timedelta(minutes=6))
    registry, ledger = FileRegistry(home.state_dir), SqliteLedger(home.ledger_path)
    try:
        [checked] = check_slots(registry=registry, ledger=ledger, clock=clock)
        assert checked.missed == (slot_run_id("g", first), slot_run_id("g", second))
        clock.advance(600)  # a trigger for the first slot comes, 76 minutes late
        body = json.dumps({"scheduled_time": format_time(first)}).encode()
        handle_trigger(
            TriggerEvent("b", "triggers/g", body, clock.now(), "01"),
            registry=registry,
            ledger=ledger,
            publishers=RecordingInvoker(),
            clock=clock,
            timing=Timing(),
        )
    finally:
        ledger.close()

    code, out, err = run(capsys, "runs", "list", "g")
    assert code == 0, err
    rows = {line.split()[1]: line for line in out.splitlines() if "g.20" in line}
    assert "missed" in rows[slot_run_id("g", second)]
    assert "running (late)" in rows[slot_run_id("g", first)]
    code, out, err = run(capsys, "runs", "list", "g", "--json")
    states = {r["run"]: (r["state"], r["scheduled_time"]) for r in json.loads(out)}
    assert states[slot_run_id("g", second)] == ("missed", format_time(second))
    assert states[slot_run_id("g", first)] == ("running", format_time(first))
    assert (
        f"{format_time(second)[:10]} {format_time(second)[11:19]}" in rows[slot_run_id("g", second)]
    )
    code, out, err = run(capsys, "runs", "show", slot_run_id("g", second))
    assert code == 0, err
    assert f"run {slot_run_id('g', second)} missed: no trigger came within slot_tolerance 5m" in out
    code, out, err = run(capsys, "runs", "show", slot_run_id("g", first))
    assert "late: triggered 1h 16m after its slot (slot_tolerance 5m)" in out
