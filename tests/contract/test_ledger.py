"""The SQLite ledger: conditional opens, exactly-once counting, completion, redrive.

Runs against both adapter families; concurrency only on real SQLite transactions with
real threads (moto's DynamoDB is not atomic under concurrent threads).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bridge.domain.results import JobRef, JobResult, JobStatus
from bridge.domain.runs import Run, RunState, skipped_run
from bridge.exceptions import Conflict, InvalidInput, RunNotFound
from bridge.local.ledger import SqliteLedger
from bridge.ports import Ledger

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def make_run(run_id: str = "g.r1", total: int = 3, group: str = "g") -> Run:
    return Run(run_id, group, 1, RunState.RUNNING, total, slot_time=T0, opened_at=T0)


def result(
    job: str,
    ok: bool = True,
    *,
    run_id: str = "g.r1",
    attempt: int = 1,
    list_name: str = "a",
    at: int = 0,
) -> JobResult:
    return JobResult(
        ref=JobRef(run_id, "g", list_name, job, "2026-11-22T03:00:00.000Z", attempt),
        status=JobStatus.SUCCEEDED if ok else JobStatus.FAILED,
        tries=1 if ok else 3,
        finished_at=T0 + timedelta(seconds=at),
        error="" if ok else "RuntimeError: no",
    )


def test_open_run_is_conditional(ledger: Ledger) -> None:
    assert ledger.open_run(make_run(), previous=None, cancel=None) == "opened"
    assert ledger.open_run(make_run(), previous=None, cancel=None) == "duplicate"
    assert ledger.latest_run("g") == make_run()
    with pytest.raises(Conflict):  # the head is g.r1 now, not "nothing"
        ledger.open_run(make_run("g.r2"), previous=None, cancel=None)
    assert ledger.get_run("g.r2") is None


def test_replace_cancels_the_previous_run_in_the_same_transaction(ledger: Ledger) -> None:
    ledger.open_run(make_run(), previous=None, cancel=None)
    ledger.open_run(make_run("g.r2"), previous="g.r1", cancel="g.r1")
    old = ledger.get_run("g.r1")
    assert (
        old is not None and old.state is RunState.CANCELLED and old.reason == "replaced by run g.r2"
    )
    assert ledger.latest_run("g") == make_run("g.r2")


def test_skips_are_recorded_once_and_do_not_become_the_head(ledger: Ledger) -> None:
    skipped = skipped_run(make_run("g.s"), "overlap: run g.r1 is still running")
    assert ledger.record_skip(skipped) == "opened"
    assert ledger.record_skip(skipped) == "duplicate"
    assert ledger.get_run("g.s") == skipped
    assert ledger.latest_run("g") is None


def test_parts_are_marked_once_and_counted_once(ledger: Ledger) -> None:
    ledger.open_run(make_run(total=1500), previous=None, cancel=None)
    assert not ledger.part_dispatched("g.r1", "a", 0, 1)
    assert ledger.mark_part_dispatched("g.r1", "a", 0, 1, 1000)
    assert not ledger.mark_part_dispatched("g.r1", "a", 0, 1, 1000)
    assert ledger.mark_part_dispatched("g.r1", "a", 1, 1, 500)
    assert ledger.part_dispatched("g.r1", "a", 0, 1)
    run = ledger.get_run("g.r1")
    assert run is not None and run.dispatched == 1500


def test_results_count_once_and_the_last_one_ends_the_run(ledger: Ledger) -> None:
    ledger.open_run(make_run(total=3), previous=None, cancel=None)
    assert ledger.record_result(result("j1", at=5))
    assert not ledger.record_result(result("j1", at=9))  # a duplicate delivery
    assert ledger.record_result(result("j2", ok=False, at=7))
    running = ledger.get_run("g.r1")
    assert running is not None and running.state is RunState.RUNNING
    assert ledger.record_result(result("j3", at=2))  # recorded last, finished earlier
    run = ledger.get_run("g.r1")
    assert run is not None
    assert (run.state, run.succeeded, run.failed) == (RunState.FAILED, 2, 1)
    assert run.finished_at == T0 + timedelta(seconds=7)  # when its last job finished
    failed = ledger.job_results("g.r1", "failed", 10)
    assert [(r.ref.job_id, r.error, r.tries) for r in failed] == [("j2", "RuntimeError: no", 3)]


def test_concurrent_duplicate_results_are_counted_exactly_once(sqlite_ledger: SqliteLedger) -> None:
    jobs = [f"j{i}" for i in range(300)]
    sqlite_ledger.open_run(make_run(total=len(jobs)), previous=None, cancel=None)
    counted: list[bool] = []
    lock = threading.Lock()

    def deliver(offset: int) -> None:
        for job in jobs[offset:] + jobs[:offset]:
            ok = sqlite_ledger.record_result(result(job, ok=int(job[1:]) % 10 != 0))
            with lock:
                counted.append(ok)

    threads = [threading.Thread(target=deliver, args=(i * 37,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run = sqlite_ledger.get_run("g.r1")
    assert run is not None
    assert sum(counted) == 300 and len(counted) == 1800
    assert (run.succeeded, run.failed, run.state) == (270, 30, RunState.FAILED)


def test_concurrent_opens_of_one_slot_open_one_run(sqlite_ledger: SqliteLedger) -> None:
    answers: list[str] = []

    def open_it() -> None:
        answers.append(sqlite_ledger.open_run(make_run(), previous=None, cancel=None))

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == ["duplicate"] * 7 + ["opened"]


def test_redrive_reopens_only_failed_jobs_and_ignores_stale_results(ledger: Ledger) -> None:
    ledger.open_run(make_run(total=3), previous=None, cancel=None)
    ledger.record_result(result("j1"))
    ledger.record_result(result("j2", ok=False))
    ledger.record_result(result("j3", ok=False, list_name="b"))
    run, per_list = ledger.begin_redrive("g.r1")
    assert per_list == {"a": 1, "b": 1}
    assert (run.state, run.failed, run.succeeded, run.attempt) == (RunState.RUNNING, 0, 1, 2)
    assert ledger.redrive_jobs("g.r1", "a", 2) == {"j2"}
    assert not ledger.record_result(result("j2", ok=False))  # a late duplicate of attempt 1
    assert ledger.record_result(result("j2", attempt=2))
    assert not ledger.record_result(result("j2", attempt=2))
    assert ledger.record_result(result("j3", attempt=2, list_name="b"))
    done = ledger.get_run("g.r1")
    assert done is not None and (done.state, done.succeeded, done.failed) == (
        RunState.SUCCEEDED,
        3,
        0,
    )


def test_only_a_failed_run_can_be_redriven(ledger: Ledger) -> None:
    with pytest.raises(RunNotFound):
        ledger.begin_redrive("g.nope")
    ledger.open_run(make_run(total=1), previous=None, cancel=None)
    with pytest.raises(InvalidInput, match="running"):
        ledger.begin_redrive("g.r1")
    ledger.record_result(result("j1"))
    with pytest.raises(InvalidInput, match="succeeded"):
        ledger.begin_redrive("g.r1")


def test_launched_only_moves_forward(ledger: Ledger) -> None:
    ledger.open_run(make_run(), previous=None, cancel=None)
    ledger.mark_launched("g.r1", 2)
    ledger.mark_launched("g.r1", 1)
    run = ledger.get_run("g.r1")
    assert run is not None and run.launched == 2


def test_list_runs_newest_first_by_group(ledger: Ledger) -> None:
    for minute, (run_id, previous) in enumerate([("g.a", None), ("g.b", "g.a"), ("h.c", None)]):
        opened = T0 + timedelta(minutes=minute)
        run = replace(make_run(run_id, group=run_id[0]), opened_at=opened, slot_time=opened)
        ledger.open_run(run, previous=previous, cancel=None)
    assert [r.run_id for r in ledger.list_runs("g", 10)] == ["g.b", "g.a"]
    assert [r.run_id for r in ledger.list_runs(None, 2)] == ["h.c", "g.b"]


def test_finished_jobs_are_those_with_a_final_result(ledger: Ledger) -> None:
    ledger.open_run(make_run(total=4), previous=None, cancel=None)
    ledger.record_result(result("j1"))
    ledger.record_result(result("j2", ok=False))
    ledger.record_result(result("j3", list_name="b"))
    assert ledger.finished_jobs("g.r1", "a") == {"j1", "j2"}
    ledger.record_result(result("j4"))
    ledger.begin_redrive("g.r1")  # j2 goes back to waiting for a result
    assert ledger.finished_jobs("g.r1", "a") == {"j1", "j4"}
