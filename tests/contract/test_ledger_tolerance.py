"""Tolerated failures on both ledgers: the tolerance kept with the run when it opens,
the end it decides at its boundary (equal succeeds, one more fails), and a succeeded
run with tolerated failures reopened by a redrive's conditional write."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.aws.ledger.runs import run_from_item
from bridge.domain.results import JobResult, JobStatus
from bridge.domain.runs import Progress, RunState
from bridge.domain.tolerance import NO_TOLERANCE, Tolerance
from bridge.local.ledger import SqliteLedger
from bridge.ports import Ledger
from bridge.usecases.record import record_results
from tests.contract.test_ledger import T0, make_run, result, state


def lost(job: str) -> JobResult:
    return replace(result(job, ok=False), status=JobStatus.LOST, tries=0)


@pytest.mark.parametrize(
    ("tolerance", "failing", "end"),
    [
        (Tolerance(count=2), 2, RunState.SUCCEEDED),  # equal to the tolerance
        (Tolerance(count=2), 3, RunState.FAILED),  # one more
        (Tolerance(percent=40), 2, RunState.SUCCEEDED),  # 2 of 5 jobs is 40%
        (Tolerance(percent=40), 3, RunState.FAILED),
        (NO_TOLERANCE, 1, RunState.FAILED),
    ],
)
def test_a_run_ends_by_its_tolerance_with_its_failures_counted(
    ledger: Ledger, tolerance: Tolerance, failing: int, end: RunState
) -> None:
    ledger.open_run(replace(make_run(total=5), tolerance=tolerance), previous=None, cancel=None)
    opened = ledger.get_run("g.r1")
    assert opened is not None and opened.tolerance == tolerance
    batch = [result(f"j{i}", ok=i >= failing) for i in range(5)]
    assert record_results(batch, ledger=ledger).finished == ["g.r1"]
    assert state(ledger) == (end, 5 - failing, failing, 0)
    listed = ledger.list_runs("g", 1)[0]
    assert (listed.state, listed.failed, listed.tolerance) == (end, failing, tolerance)


def test_lost_jobs_count_against_the_tolerance(ledger: Ledger) -> None:
    ledger.open_run(
        replace(make_run(total=4), tolerance=Tolerance(count=2)), previous=None, cancel=None
    )
    record_results([result("j0"), result("j1"), result("j2", ok=False)], ledger=ledger)
    record_results([lost("j3")], ledger=ledger)
    assert state(ledger) == (RunState.SUCCEEDED, 2, 1, 1)


def test_a_succeeded_run_is_reopened_only_if_it_is_still_succeeded(ledger: Ledger) -> None:
    ledger.open_run(
        replace(make_run(total=2), tolerance=Tolerance(count=1)), previous=None, cancel=None
    )
    record_results([result("j0"), result("j1", ok=False)], ledger=ledger)
    before = ledger.get_run("g.r1")
    assert before is not None and before.state is RunState.SUCCEEDED and before.redrivable
    later = T0 + timedelta(hours=1)
    assert not ledger.reopen_run(
        "g.r1", expected=RunState.FAILED, attempt=2, deadline=later, progress=Progress()
    )
    progress = Progress(succeeded=1, checked=1, missing=1)
    assert ledger.reopen_run(
        "g.r1", expected=RunState.SUCCEEDED, attempt=2, deadline=later, progress=progress
    )
    assert not ledger.reopen_run(
        "g.r1", expected=RunState.SUCCEEDED, attempt=3, deadline=later, progress=progress
    ), "a second redrive finds it running"
    run = ledger.get_run("g.r1")
    assert run is not None and (run.state, run.attempt, run.tolerance) == (
        RunState.RUNNING,
        2,
        Tolerance(count=1),
    )
    assert [r.run_id for r in ledger.open_runs()] == ["g.r1"]
    record_results([result("j1", attempt=2)], ledger=ledger)
    assert state(ledger) == (RunState.SUCCEEDED, 2, 0, 0)


def test_a_ledger_file_from_before_tolerances_is_read_as_tolerating_none(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    old = SqliteLedger(path)
    old.open_run(make_run(total=1), previous=None, cancel=None)
    old.close()
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE runs DROP COLUMN tolerated")  # as an older version made it
    conn.commit()
    conn.close()
    ledger = SqliteLedger(path)
    try:
        run = ledger.get_run("g.r1")
        assert run is not None and run.tolerance == NO_TOLERANCE
        record_results([result("j0", ok=False)], ledger=ledger)
        assert state(ledger) == (RunState.FAILED, 0, 1, 0)
        opened = replace(make_run("g.r2", total=1), tolerance=Tolerance(percent=100))
        ledger.open_run(opened, previous="g.r1", cancel=None)
        assert ledger.get_run("g.r2") == opened
    finally:
        ledger.close()


def test_a_dynamodb_run_item_without_a_tolerance_tolerates_none() -> None:
    older = {
        "pk": "run#g.r1",
        "grp": "g",
        "version": 1,
        "state": "running",
        "total": 1,
        "slot_time": T0.isoformat(),
        "opened_at": T0.isoformat(),
    }
    assert run_from_item(older).tolerance == NO_TOLERANCE
    assert run_from_item({**older, "tolerated": "2.5%"}).tolerance == Tolerance(percent=2.5)
