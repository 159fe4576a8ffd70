"""The promise under faults: every job of a run has exactly one recorded result, each
side effect happens once, the counters agree with the results, and only the jobs made
to fail end failed, until `runs redrive` finishes them once they are fixed.

Faults (tests/faults.py, seeded): duplicate deliveries, 429s, worker exceptions before
and after the work, publishers crashing mid-part, duplicate S3 events and duplicate
destination records, each at 5-20%."""

from __future__ import annotations

import collections
import functools
import importlib
import os
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from bridge.domain.chunks import ResultChunk
from bridge.domain.controls import Controls
from bridge.domain.results import JobStatus, destination_record
from bridge.domain.runs import Run, RunState
from bridge.domain.triggers import TriggerEvent
from bridge.local.home import Home
from bridge.local.runtime import LocalRuntime
from bridge.ports import Ledger
from bridge.sandbox import DeploymentNames, Sandbox
from bridge.usecases.jobs import job_results
from bridge.usecases.redrive import redrive_run
from bridge.usecases.register import ListSource, register_group
from tests.conftest import SUPPORT, write_jobs
from tests.faults import Faults, FaultyLambda

WAIT = 600  # a bound so a broken test ends; never a claim about speed
FAULTS = dict(
    duplicate=0.1, throttle=0.1, worker_error=0.2, publisher_crash=0.2, duplicate_record=0.1
)


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The module python: targets load (not tests.support.sample_workers: a second copy)."""
    monkeypatch.syspath_prepend(str(SUPPORT))
    module = importlib.import_module("sample_workers")
    module.EFFECTS.clear()
    module.FIXED.clear()
    yield module
    module.FIXED.clear()


def chaos_lists(
    tmp_path: Path, lists: int, per_list: int, permanent_every: int
) -> tuple[list[ListSource], set[str], set[str]]:
    sources, every, permanent = [], set(), set()
    for n in range(lists):
        jobs = []
        for i in range(per_list):
            job_id = f"l{n}-{i}"
            broken = i % permanent_every == permanent_every - 1
            jobs.append({"id": job_id, "payload": {"n": i, "permanent": broken}})
            every.add(job_id)
            if broken:
                permanent.add(job_id)
        sources.append(
            ListSource.from_path(f"list{n}", write_jobs(tmp_path / f"list{n}.jsonl", jobs))
        )
    return sources, every, permanent


def check_results(ledger: Ledger, run_id: str, every: set[str], failed: set[str]) -> None:
    run = ledger.get_run(run_id)
    assert run is not None
    stored = collections.Counter(r.ref.job_id for r in ledger.stored_results(run))
    assert set(stored) == every, "every job has a result, and no result names another job"
    results = job_results(ledger, run_id)
    assert len(results) == len(every), "one result stands per job"
    assert {r.ref.job_id for r in results if r.status is JobStatus.FAILED} == failed
    assert (run.total, run.succeeded, run.failed) == (
        len(every),
        len(every) - len(failed),
        len(failed),
    )
    assert run.state is (RunState.FAILED if failed else RunState.SUCCEEDED)


def check_first_attempt(
    ledger: Ledger,
    run_id: str,
    every: set[str],
    permanent: set[str],
    workers: ModuleType,
    service: FaultyLambda,
) -> None:
    check_results(ledger, run_id, every, permanent)
    assert {job for job, n in workers.EFFECTS.items() if n} == every - permanent
    assert set(workers.EFFECTS.values()) == {1}, "no side effect happened twice"
    counts = service.counts
    faults = [counts.duplicates, counts.throttles, counts.worker_errors]
    faults += [counts.publisher_crashes, counts.duplicate_records]
    assert min(faults) > 0, f"every kind of fault happened: {counts}"


def check_after_redrive(ledger: Ledger, run_id: str, every: set[str], workers: ModuleType) -> None:
    check_results(ledger, run_id, every, set())
    assert set(workers.EFFECTS) == every
    assert set(workers.EFFECTS.values()) == {1}, "the fixed jobs' effects happened once each"


def test_ten_thousand_jobs_on_the_local_runtime_under_every_fault(
    home: Home, tmp_path: Path, workers: ModuleType
) -> None:
    service = functools.partial(FaultyLambda, faults=Faults(seed=20261122, **FAULTS))
    runtime = LocalRuntime(home, workers=16, retry_delay=0.005, service=service)
    try:
        sources, every, permanent = chaos_lists(
            tmp_path, lists=4, per_list=2500, permanent_every=200
        )
        runtime.register(
            "chaos", "python:sample_workers:effect_local", sources, Controls(max_attempts=3)
        )
        # A scheduled slot, so the publisher units (and so the faults they meet) are the
        # same on every run of the test, whatever the time of day.
        slot = b'{"scheduled_time": "2026-11-22T03:00:00Z"}'
        event = TriggerEvent("b", "triggers/chaos", slot, runtime.clock.now(), sequencer="0A1B")
        first = runtime.handle_trigger(event)
        again = runtime.handle_trigger(event)  # the same S3 event, delivered twice
        assert again.run_id == first.run_id
        assert runtime.wait_idle(WAIT)

        assert len(runtime.ledger.list_runs("chaos", 10)) == 1
        check_first_attempt(
            runtime.ledger, first.run_id, every, permanent, workers, runtime.lambdas
        )

        workers.FIXED.set()  # the fix is deployed
        runtime.redrive(first.run_id)
        assert runtime.wait_idle(WAIT)
        check_after_redrive(runtime.ledger, first.run_id, every, workers)
    finally:
        runtime.close()


@pytest.fixture
def restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def wait_finished(ledger: Ledger, group: str) -> list[Run]:
    end = time.monotonic() + WAIT
    while time.monotonic() < end:
        runs = ledger.list_runs(group, 10)
        if runs and all(run.state.finished for run in runs):
            return runs
        time.sleep(0.2)
    raise AssertionError(f"no finished run: {ledger.list_runs(group, 10)}")


@pytest.mark.usefixtures("restore_environ")
def test_a_thousand_jobs_on_the_aws_adapters_under_every_fault(
    tmp_path: Path, workers: ModuleType
) -> None:
    names = DeploymentNames("chaos")
    faults = Faults(seed=11, publisher=names.publisher, **FAULTS)
    sandbox = Sandbox(
        {"worker": "sample_workers:effect_aws"},
        names=names,
        retry_delay=0.01,
        service=functools.partial(FaultyLambda, faults=faults),
    )
    sandbox.start()
    try:
        runtime = sandbox.runtime
        sources, every, permanent = chaos_lists(tmp_path, lists=20, per_list=50, permanent_every=25)
        register_group(
            "chaos",
            "lambda:worker",
            sources,
            Controls(max_attempts=3),
            registry=runtime.registry,
            clock=runtime.clock,
            check_target=lambda target, controls: None,
        )
        url = f"{sandbox.env['CRONBRIDGE_TRIGGER_URL']}/triggers/chaos"
        slot = b'{"scheduled_time": "2026-11-22T03:00:00Z"}'
        for _ in range(2):  # the scheduler retried: two PUTs, two S3 events, one slot
            response = httpx.put(
                url, content=slot, headers={"User-Agent": sandbox.env["CRONBRIDGE_TRIGGER_SECRET"]}
            )
            assert response.status_code == 200
        [run] = wait_finished(runtime.ledger, "chaos")
        assert sandbox.wait_idle(WAIT)
        check_first_attempt(runtime.ledger, run.run_id, every, permanent, workers, sandbox.lambdas)

        workers.FIXED.set()
        redrive_run(
            run.run_id,
            registry=runtime.registry,
            ledger=runtime.ledger,
            publishers=runtime.publishers,
            clock=runtime.clock,
            timing=runtime.settings.timing,
        )
        wait_finished(runtime.ledger, "chaos")
        assert sandbox.wait_idle(WAIT)
        check_after_redrive(runtime.ledger, run.run_id, every, workers)
    finally:
        sandbox.stop()


class CrashingLedger:
    """The recorder's ledger, killed right after chosen writes of result chunks: the
    chunks are stored, the recorder dies before its batch is acknowledged, and SQS
    delivers the whole batch again after the queue's visibility timeout."""

    def __init__(self, ledger: Ledger, crash_on: set[int]) -> None:
        self._ledger = ledger
        self._crash_on = crash_on
        self.appends = 0
        self.crashes = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._ledger, name)

    def append_results(self, run_id: str, chunks: Sequence[ResultChunk]) -> int:
        counted = self._ledger.append_results(run_id, chunks)
        self.appends += 1
        if self.appends in self._crash_on:
            self.crashes += 1
            raise SystemExit("recorder killed mid-batch")
        return counted


@pytest.mark.usefixtures("restore_environ")
def test_dropped_records_a_killed_recorder_and_redelivered_batches_on_the_aws_path(
    tmp_path: Path, workers: ModuleType
) -> None:
    """1% of destination records are lost (Lambda could not deliver them), 5% arrive
    twice, the recorder is killed twice mid-batch and SQS delivers those batches again:
    every job still ends with one result, each effect happens once, and the run ends by
    its deadline, the lost records' jobs having been sent once more."""
    names = DeploymentNames("lossy")
    faults = Faults(seed=5, publisher=names.publisher, drop_record=0.01, duplicate_record=0.05)
    service = functools.partial(FaultyLambda, faults=faults)
    sandbox = Sandbox(
        {"worker": "sample_workers:effect_aws_lossy"},
        names=names,
        retry_delay=0.01,
        service=service,
        results_window=0.5,
        results_visibility=2,
        sweep_every=1.0,
    )
    sandbox.start()
    try:
        runtime = sandbox.runtime
        crashing = CrashingLedger(runtime.ledger, crash_on={2, 5})
        runtime.ledger = crashing  # type: ignore[assignment]
        sources, every, _ = chaos_lists(tmp_path, lists=4, per_list=100, permanent_every=10**6)
        register_group(
            "lossy",
            "lambda:worker",
            sources,
            Controls(max_attempts=3, deadline=DEADLINE),
            registry=runtime.registry,
            clock=runtime.clock,
            check_target=lambda target, controls: None,
        )
        response = httpx.put(
            f"{sandbox.env['CRONBRIDGE_TRIGGER_URL']}/triggers/lossy",
            content=b'{"scheduled_time": "2026-11-22T03:00:00Z"}',
            headers={"User-Agent": sandbox.env["CRONBRIDGE_TRIGGER_SECRET"]},
        )
        assert response.status_code == 200
        [run] = wait_finished(runtime.ledger, "lossy")
        assert sandbox.wait_idle(WAIT)
        counts = sandbox.lambdas.counts  # type: ignore[attr-defined]
        assert counts.dropped_records > 0 and counts.duplicate_records > 0
        assert crashing.crashes == 2
        check_results(runtime.ledger, run.run_id, every, set())
        assert set(workers.EFFECTS) == every and set(workers.EFFECTS.values()) == {1}
        assert run.resent == 1, "the jobs whose records were lost were sent once more"
        assert run.finished_at is not None and run.deadline is not None
        assert run.finished_at < run.deadline, "and the run ended before its second deadline"
    finally:
        sandbox.stop()


DEADLINE = 20.0  # seconds: the group's deadline in the lossy run


def test_a_recorder_killed_mid_batch_and_batches_delivered_again_count_exactly(
    aws: None, clock: object
) -> None:
    """On DynamoDB: a batch holding three runs' results; the recorder dies after storing
    the first run's chunks; SQS delivers the whole batch again, three times over."""
    import boto3

    from bridge.aws.ledger import DynamoLedger, table_definition
    from bridge.domain.runs import Run as RunRecord
    from bridge.usecases.record import record_destination_batch
    from tests.fakes import sqs_event

    client = boto3.client("dynamodb")
    client.create_table(**table_definition("ledger"))
    ledger = DynamoLedger(client, "ledger")
    t0 = datetime(2026, 11, 22, 3, tzinfo=UTC)
    records = []
    for r in range(3):
        run = RunRecord(f"g{r}.r", f"g{r}", 1, RunState.RUNNING, 300, t0, t0, deadline=t0)
        ledger.open_run(run, previous=None, cancel=None)
        for i in range(300):
            ok = i % 50 != 0
            envelope = {
                "cronbridge": {
                    "run": run.run_id,
                    "group": run.group,
                    "list": "a",
                    "part": 0,
                    "job": f"j{i}",
                    "scheduled_time": "t",
                    "attempt": 1,
                },
                "payload": None,
            }
            records.append(
                destination_record(
                    envelope,
                    succeeded=ok,
                    tries=3 if not ok else 1,
                    response={"errorType": "E", "errorMessage": "x"} if not ok else {"i": i},
                    function_arn="arn",
                    request_id=f"q{r}-{i}",
                    timestamp=t0,
                )
            )
    event = sqs_event(records)
    crashing = CrashingLedger(ledger, crash_on={1})
    with pytest.raises(SystemExit):
        record_destination_batch(event, ledger=crashing)  # type: ignore[arg-type]
    assert [ledger.get_run(f"g{r}.r").state for r in range(3)] == [RunState.RUNNING] * 3  # type: ignore[union-attr]
    for _ in range(3):  # the whole batch again, and again
        outcome = record_destination_batch(event, ledger=ledger)
        assert outcome.failures == []
    for r in range(3):
        done = ledger.get_run(f"g{r}.r")
        assert done is not None
        assert (done.state, done.succeeded, done.failed) == (RunState.FAILED, 294, 6)
        assert len(job_results(ledger, done.run_id)) == 300
