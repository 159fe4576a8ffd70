"""Watching a run with a clock that moves only when the watcher sleeps: what a pipe, a
terminal and --json get, when the runtime is asked about, and when a wait gives up."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bridge.cli.progress import StillRunning, progress_line, watch_run
from bridge.domain.results import JobRef, JobResult, JobStatus
from bridge.domain.runs import Run, RunState
from bridge.local.ledger import SqliteLedger
from bridge.usecases.record import record_results
from tests.conftest import FakeClock

RUN = "g.m-0123456789abcdef"


class ScriptedClock(FakeClock):
    """A fake clock that does the next step of a script each time someone sleeps on it."""

    def __init__(self, steps: list[Callable[[], None]]) -> None:
        super().__init__()
        self.steps = steps

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.steps:
            self.steps.pop(0)()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    store = SqliteLedger(tmp_path / "ledger.sqlite3")
    yield store
    store.close()


def open_run(ledger: SqliteLedger, clock: FakeClock, *, total: int = 2, age: float = 90) -> None:
    opened = clock.now() - timedelta(seconds=age)
    ledger.open_run(
        Run(RUN, "g", 1, RunState.RUNNING, total, opened, opened), previous=None, cancel=None
    )


def succeed(ledger: SqliteLedger, clock: FakeClock, job: str) -> Callable[[], None]:
    """A step that records job `job` of RUN as succeeded, now by `clock`."""

    def step() -> None:
        ref = JobRef(RUN, "g", "a", job, "t", 1, part=0)
        record_results([JobResult(ref, JobStatus.SUCCEEDED, 1, clock.now())], ledger=ledger)

    return step


def pipe() -> Console:
    return Console(file=io.StringIO(), force_terminal=False, width=200)


def text(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def test_a_pipe_gets_a_line_at_the_start_and_every_five_seconds(ledger: SqliteLedger) -> None:
    clock = FakeClock()
    open_run(ledger, clock)
    console = pipe()
    with pytest.raises(StillRunning) as raised:
        watch_run(ledger, RUN, console, interval=0.5, timeout=12, clock=clock)
    assert text(console).splitlines() == [
        f"run {RUN} running: 0 of 2 jobs have a result (dispatched 0, succeeded 0, failed 0,"
        f" lost 0), {elapsed} since it opened"
        for elapsed in ("0:01:30", "0:01:35", "0:01:40")  # counted from when the run opened
    ]
    assert raised.value.exit_code == 124
    assert f"run {RUN} is still running after 12s" in raised.value.message
    assert raised.value.hint is not None and f"cronbridge runs watch {RUN}" in raised.value.hint


def test_a_terminal_counts_elapsed_time_from_when_the_run_opened(ledger: SqliteLedger) -> None:
    clock = FakeClock()
    open_run(ledger, clock, total=1, age=75)
    succeed(ledger, clock, "a-0")()  # the run ends 75s after it opened
    clock.advance(3600)  # an hour later, the bar still says how long it took
    terminal = Console(file=io.StringIO(), force_terminal=True, width=200)
    run = watch_run(ledger, RUN, terminal, clock=clock)
    assert run.state is RunState.SUCCEEDED
    assert "0:01:15" in text(terminal)


def test_json_records_follow_each_change_to_the_finished_state(ledger: SqliteLedger) -> None:
    steps: list[Callable[[], None]] = []
    clock = ScriptedClock(steps)
    open_run(ledger, clock)
    steps += [succeed(ledger, clock, "a-0"), lambda: None, succeed(ledger, clock, "a-1")]
    records: list[dict[str, Any]] = []
    run = watch_run(ledger, RUN, pipe(), interval=1, records=records.append, clock=clock)
    assert run.state is RunState.SUCCEEDED
    assert [(r["state"], r["done"], r["dispatched"]) for r in records] == [
        ("running", 0, 0),
        ("running", 1, 1),  # no record for the second that changed nothing
        ("succeeded", 2, 2),
    ]
    assert records[0]["elapsed_seconds"] == 90


def test_the_runtime_is_asked_about_when_the_run_stands_still_and_told_once(
    ledger: SqliteLedger,
) -> None:
    clock = FakeClock()
    open_run(ledger, clock)
    answers = ["serve is not running at http://127.0.0.1:9", "serve is not running", None]
    asked: list[float] = []

    def probe() -> str | None:
        asked.append(clock.monotonic())
        return answers.pop(0)

    warn = pipe()
    with pytest.raises(StillRunning):
        watch_run(
            ledger, RUN, pipe(), interval=1, timeout=12, runtime_down=probe, warn=warn, clock=clock
        )
    assert [t - asked[0] for t in asked] == [0, 5, 10]  # at the start, then after 5s still
    assert text(warn).splitlines() == [
        "warning: serve is not running at http://127.0.0.1:9",
        "the runtime answers again",
    ]


def test_dispatched_is_never_shown_below_the_jobs_that_have_a_result() -> None:
    clock = FakeClock()
    run = Run(RUN, "g", 1, RunState.RUNNING, 20, clock.now(), clock.now(), succeeded=19)
    assert "(dispatched 19, succeeded 19, failed 0, lost 0)" in progress_line(run, clock)
