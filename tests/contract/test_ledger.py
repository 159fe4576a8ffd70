"""The run ledger, on both adapter families: conditional opens, cancels and reopens,
parts and send sets, result chunks counted once, exact recounts that end runs.

Concurrency runs only on real SQLite transactions with real threads (moto's DynamoDB
is not atomic under concurrent threads).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bridge.domain.chunks import make_chunks
from bridge.domain.results import JobRef, JobResult, JobStatus
from bridge.domain.runs import Progress, Run, RunState, skipped_run
from bridge.exceptions import Conflict
from bridge.local.ledger import SqliteLedger
from bridge.ports import Ledger, SendSet
from bridge.usecases.jobs import job_results
from bridge.usecases.record import record_results

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def make_run(run_id: str = "g.r1", total: int = 3, group: str = "g") -> Run:
    return Run(
        run_id,
        group,
        1,
        RunState.RUNNING,
        total,
        slot_time=T0,
        opened_at=T0,
        deadline=T0 + timedelta(hours=1),
    )


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
        ref=JobRef(run_id, "g", list_name, job, "2026-11-22T03:00:00.000Z", attempt, 0),
        status=JobStatus.SUCCEEDED if ok else JobStatus.FAILED,
        tries=1 if ok else 3,
        finished_at=T0 + timedelta(seconds=at),
        error="" if ok else "RuntimeError: no",
        output='{"ok":true}' if ok else None,
    )


def state(ledger: Ledger, run_id: str = "g.r1") -> tuple[RunState, int, int, int]:
    run = ledger.get_run(run_id)
    assert run is not None
    return run.state, run.succeeded, run.failed, run.lost


def test_open_run_is_conditional(ledger: Ledger) -> None:
    assert ledger.open_run(make_run(), previous=None, cancel=None) == "opened"
    assert ledger.open_run(make_run(), previous=None, cancel=None) == "duplicate"
    assert ledger.latest_run("g") == make_run()
    with pytest.raises(Conflict):  # the head is g.r1 now, not "nothing"
        ledger.open_run(make_run("g.r2"), previous=None, cancel=None)
    assert ledger.get_run("g.r2") is None
    assert [r.run_id for r in ledger.open_runs()] == ["g.r1"]


def test_replace_cancels_the_previous_run_in_the_same_transaction(ledger: Ledger) -> None:
    ledger.open_run(make_run(), previous=None, cancel=None)
    ledger.open_run(make_run("g.r2"), previous="g.r1", cancel="g.r1")
    old = ledger.get_run("g.r1")
    assert (
        old is not None and old.state is RunState.CANCELLED and old.reason == "replaced by run g.r2"
    )
    assert ledger.latest_run("g") == make_run("g.r2")
    assert [r.run_id for r in ledger.open_runs()] == ["g.r2"]


def test_replacing_a_run_that_ended_meanwhile_still_opens(ledger: Ledger) -> None:
    ledger.open_run(make_run(), previous=None, cancel=None)
    assert ledger.cancel_run("g.r1", "by hand", T0)
    assert ledger.open_run(make_run("g.r2"), previous="g.r1", cancel="g.r1") == "opened"
    old = ledger.get_run("g.r1")
    assert old is not None and old.reason == "by hand"


def test_skips_are_recorded_once_and_do_not_become_the_head(ledger: Ledger) -> None:
    skipped = skipped_run(make_run("g.s"), "overlap: run g.r1 is still running")
    assert ledger.record_skip(skipped) == "opened"
    assert ledger.record_skip(skipped) == "duplicate"
    assert ledger.get_run("g.s") == skipped
    assert ledger.latest_run("g") is None
    assert ledger.open_runs() == []


def test_parts_are_marked_once_and_counted_once(ledger: Ledger) -> None:
    ledger.open_run(make_run(total=1500), previous=None, cancel=None)
    assert not ledger.part_dispatched("g.r1", "a", 0, 1, "")
    assert ledger.mark_part_dispatched("g.r1", "a", 0, 1, "", 1000)
    assert not ledger.mark_part_dispatched("g.r1", "a", 0, 1, "", 1000)
    assert ledger.mark_part_dispatched("g.r1", "a", 1, 1, "", 500)
    assert ledger.mark_part_dispatched("g.r1", "a", 0, 1, "resend", 1000)  # another round
    assert ledger.part_dispatched("g.r1", "a", 0, 1, "")
    assert not ledger.part_dispatched("g.r1", "a", 1, 1, "resend")
    run = ledger.get_run("g.r1")
    assert run is not None and run.dispatched == 1500  # a resend is not a new dispatch


def test_a_lanes_wake_runs_once_unless_its_first_delivery_is_past_its_hold(
    ledger: Ledger,
) -> None:
    ledger.open_run(make_run(), previous=None, cancel=None)
    assert ledger.take_wake("g.r1", "1##a#4", 0, now=100.0, hold=900.0)
    assert not ledger.take_wake("g.r1", "1##a#4", 0, now=101.0, hold=900.0), "a duplicate"
    assert ledger.take_wake("g.r1", "1##a#8", 0, now=101.0, hold=900.0), "another lane"
    assert ledger.take_wake("g.r1", "1##a#4", 1, now=102.0, hold=900.0), "its next wake"
    assert not ledger.take_wake("g.r1", "1##a#4", 0, now=2000.0, hold=900.0), "an old wake"
    assert not ledger.take_wake("g.r1", "1##a#4", 1, now=1001.0, hold=900.0), "still held"
    assert ledger.take_wake("g.r1", "1##a#4", 1, now=1003.0, hold=900.0), "a failed wake's retry"
    assert ledger.take_wake("g.r2", "1##a#4", 0, now=1003.0, hold=900.0), "another run"


def test_send_sets_say_which_jobs_of_a_part_go(ledger: Ledger) -> None:
    ledger.open_run(make_run(), previous=None, cancel=None)
    ledger.put_send_sets(
        "g.r1", 2, "redrive", {("a", 0): SendSet(frozenset({"j1", "j2"})), ("b", 3): SendSet()}
    )
    assert ledger.send_set("g.r1", 2, "redrive", "a", 0) == SendSet(frozenset({"j1", "j2"}))
    assert ledger.send_set("g.r1", 2, "redrive", "b", 3) == SendSet(None)
    assert ledger.send_set("g.r1", 2, "redrive", "a", 1) is None
    assert ledger.send_set("g.r1", 3, "redrive", "a", 0) is None


def test_a_chunk_is_stored_once_and_counters_never_fall_behind(ledger: Ledger) -> None:
    ledger.open_run(make_run(total=3), previous=None, cancel=None)
    chunks = make_chunks([result("j1"), result("j2", ok=False)])
    assert ledger.append_results("g.r1", chunks) == 2
    progress = ledger.progress("g.r1")
    assert (progress.succeeded, progress.failed, progress.missing) == (1, 1, 3)
    assert ledger.append_results("g.r1", chunks) == 2  # the same batch, delivered again
    run = ledger.get_run("g.r1")
    assert run is not None and (run.succeeded, run.failed) == (2, 2)  # ahead, never behind
    stored = sorted(ledger.stored_results(run), key=lambda r: r.ref.job_id)
    assert [(r.ref.job_id, r.status, r.output) for r in stored] == [
        ("j1", JobStatus.SUCCEEDED, '{"ok":true}'),
        ("j2", JobStatus.FAILED, None),
    ]


def test_results_count_once_and_the_last_one_ends_the_run(ledger: Ledger) -> None:
    ledger.open_run(make_run(total=3), previous=None, cancel=None)
    assert record_results([result("j1", at=5)], ledger=ledger).counted == 1
    again = record_results([result("j1", at=9)], ledger=ledger)  # in another batch
    assert again.counted == 1  # counters run ahead while the run goes ...
    report = record_results([result("j2", ok=False, at=7)], ledger=ledger)
    assert (report.finished, report.failed_runs) == ([], set())  # the recount says 2 of 3
    progress = ledger.progress("g.r1")
    assert (progress.checked, progress.missing) == (3, 1), "no recount before one more result"
    assert state(ledger)[0] is RunState.RUNNING
    report = record_results([result("j3", at=2)], ledger=ledger)  # recorded last, finished earlier
    assert report.finished == ["g.r1"]
    assert state(ledger) == (RunState.FAILED, 2, 1, 0)  # exact, whatever arrived twice
    run = ledger.get_run("g.r1")
    assert run is not None and run.finished_at == T0 + timedelta(seconds=7)
    assert ledger.open_runs() == []
    failed = job_results(ledger, "g.r1", "failed")
    assert [(r.ref.job_id, r.error, r.tries) for r in failed] == [("j2", "RuntimeError: no", 3)]
    late = record_results([result("j9")], ledger=ledger)
    assert (late.late, late.counted) == (1, 0)


def test_results_of_unknown_runs_and_stale_attempts_are_not_counted(ledger: Ledger) -> None:
    ledger.open_run(make_run(total=3), previous=None, cancel=None)
    report = record_results(
        [result("j1", run_id="g.nope"), result("j2", attempt=2), result("j3")], ledger=ledger
    )
    assert (report.unknown, report.stale, report.counted) == (1, 1, 1)


def test_finish_reopen_and_deadlines_are_conditional(ledger: Ledger) -> None:
    ledger.open_run(make_run(total=1), previous=None, cancel=None)
    later = T0 + timedelta(hours=2)
    assert ledger.set_deadline("g.r1", 1, later, resent=1)
    assert not ledger.set_deadline("g.r1", 2, later, resent=2)  # not its attempt
    run = ledger.get_run("g.r1")
    assert run is not None and (run.deadline, run.resent) == (later, 1)
    assert ledger.cancel_run("g.r1", "by hand", T0)
    assert not ledger.cancel_run("g.r1", "again", T0)
    assert not ledger.reopen_run(
        "g.r1", expected=RunState.FAILED, attempt=2, deadline=later, progress=Progress()
    )
    assert ledger.reopen_run(
        "g.r1",
        expected=RunState.CANCELLED,
        attempt=1,
        deadline=later,
        progress=Progress(succeeded=0, missing=1),
    )
    assert [r.run_id for r in ledger.open_runs()] == ["g.r1"]
    assert ledger.get_run("g.r1") == replace(run, deadline=later)


def test_concurrent_duplicate_results_are_counted_exactly_once(sqlite_ledger: SqliteLedger) -> None:
    jobs = [f"j{i}" for i in range(300)]
    sqlite_ledger.open_run(make_run(total=len(jobs)), previous=None, cancel=None)
    finished: list[str] = []
    lock = threading.Lock()

    def deliver(offset: int) -> None:
        order = jobs[offset:] + jobs[:offset]
        for start in range(0, len(order), 25):  # batches of 25, each thread its own order
            batch = [result(j, ok=int(j[1:]) % 10 != 0) for j in order[start : start + 25]]
            report = record_results(batch, ledger=sqlite_ledger)
            with lock:
                finished.extend(report.finished)

    threads = [threading.Thread(target=deliver, args=(i * 37,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert finished == ["g.r1"], "the run ended once"
    assert state(sqlite_ledger) == (RunState.FAILED, 270, 30, 0)


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


def test_launched_only_moves_forward(ledger: Ledger) -> None:
    ledger.open_run(make_run(), previous=None, cancel=None)
    ledger.mark_launched("g.r1", 2)
    ledger.mark_launched("g.r1", 1)
    run = ledger.get_run("g.r1")
    assert run is not None and run.launched == 2


def test_list_runs_newest_first_by_group_with_progress(ledger: Ledger) -> None:
    for minute, (run_id, previous) in enumerate([("g.a", None), ("g.b", "g.a"), ("h.c", None)]):
        opened = T0 + timedelta(minutes=minute)
        run = replace(make_run(run_id, group=run_id[0]), opened_at=opened, slot_time=opened)
        ledger.open_run(run, previous=previous, cancel=None)
    record_results([result("j1", run_id="g.b")], ledger=ledger)
    listed = ledger.list_runs("g", 10)
    assert [(r.run_id, r.succeeded) for r in listed] == [("g.b", 1), ("g.a", 0)]
    assert [r.run_id for r in ledger.list_runs(None, 2)] == ["h.c", "g.b"]
