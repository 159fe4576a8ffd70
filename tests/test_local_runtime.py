"""The local Lambda service and the assembled local runtime, with real threads."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bridge.domain.controls import Controls
from bridge.domain.results import JobStatus
from bridge.domain.runs import RunState
from bridge.domain.triggers import TriggerEvent
from bridge.exceptions import NotFound
from bridge.local.lambda_service import FunctionConfig, InvocationContext, LocalLambda
from bridge.local.runtime import LocalRuntime
from bridge.ports import SystemClock
from bridge.usecases.jobs import job_results
from bridge.usecases.register import ListSource
from tests.conftest import SUPPORT, numbered_jobs, write_jobs

WAIT = 60  # a bound so a broken test ends; never a claim about speed


@pytest.fixture
def lambdas() -> Any:
    service = LocalLambda(clock=SystemClock(), workers=6, retry_delay=0.001)
    yield service
    service.close()


def test_failed_invocations_are_retried_up_to_max_attempts_then_sent_to_the_destination(
    lambdas: LocalLambda,
) -> None:
    tries: dict[str, int] = {}
    records: list[dict[str, Any]] = []

    def worker(event: Any, context: InvocationContext) -> Any:
        tries[event["id"]] = tries.get(event["id"], 0) + 1
        if event["id"] == "bad" or (event["id"] == "flaky" and tries["flaky"] < 2):
            raise ValueError(f"{event['id']} failed")
        return "ok"

    lambdas.define(FunctionConfig("worker", worker, max_attempts=3, destination=records.append))
    for job in ("good", "bad", "flaky"):
        lambdas.invoke_async("worker", {"id": job})
    assert lambdas.wait_idle(WAIT)
    assert tries == {"good": 1, "bad": 3, "flaky": 2}
    by_job = {r["requestPayload"]["id"]: r for r in records}
    assert by_job["bad"]["requestContext"]["condition"] == "RetriesExhausted"
    assert by_job["bad"]["requestContext"]["approximateInvokeCount"] == 3
    assert by_job["bad"]["responsePayload"] == {
        "errorType": "ValueError",
        "errorMessage": "bad failed",
    }
    assert by_job["flaky"]["requestContext"] == {
        **by_job["flaky"]["requestContext"],
        "condition": "Success",
        "approximateInvokeCount": 2,
    }
    assert lambdas.stats.retried == 3


def test_max_concurrency_is_never_exceeded(lambdas: LocalLambda) -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def worker(event: Any, context: InvocationContext) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.002)
        with lock:
            running -= 1

    lambdas.define(FunctionConfig("limited", worker, max_concurrency=2))
    for i in range(40):
        lambdas.invoke_async("limited", {"i": i})
    assert lambdas.wait_idle(WAIT)
    assert peak == 2
    assert lambdas.stats.succeeded == 40


def test_an_attempt_over_its_timeout_fails_like_a_lambda_timeout(lambdas: LocalLambda) -> None:
    records: list[dict[str, Any]] = []
    lambdas.define(
        FunctionConfig(
            "slow",
            lambda e, c: time.sleep(0.05),
            timeout=0.01,
            max_attempts=1,
            destination=records.append,
        )
    )
    lambdas.invoke_async("slow", {})
    assert lambdas.wait_idle(WAIT)
    assert records[0]["responsePayload"]["errorMessage"] == "Task timed out after 0.01 seconds"


def test_unknown_function_is_not_found(lambdas: LocalLambda) -> None:
    with pytest.raises(NotFound, match="Function not found: nope"):
        lambdas.invoke_async("nope", {})


def register(
    runtime: LocalRuntime,
    tmp_path: Path,
    target: str,
    lists: dict[str, list[dict[str, Any]]],
    **controls: Any,
) -> None:
    sources = [
        ListSource.from_path(name, write_jobs(tmp_path / f"{name}.jsonl", jobs))
        for name, jobs in lists.items()
    ]
    runtime.register("g", target, sources, Controls(**controls))


def fire(runtime: LocalRuntime, body: bytes = b"", seq: str = "1") -> str:
    event = TriggerEvent("b", "triggers/g", body, runtime.clock.now(), sequencer=seq)
    return runtime.handle_trigger(event).run_id


def test_the_runtime_runs_a_group_to_the_end(runtime: LocalRuntime, tmp_path: Path) -> None:
    register(
        runtime,
        tmp_path,
        "python:publishers.examples:checksum",
        {"a": numbered_jobs("a", 1200), "b": numbered_jobs("b", 30)},
    )
    run_id = fire(runtime)
    assert runtime.wait_idle(WAIT)
    run = runtime.ledger.get_run(run_id)
    assert run is not None
    assert (run.state, run.dispatched, run.succeeded, run.failed) == (
        RunState.SUCCEEDED,
        1230,
        1230,
        0,
    )
    succeeded = job_results(runtime.ledger, run_id, "succeeded")
    assert len(succeeded) == 1230 and all(r.output for r in succeeded)


def test_failing_jobs_are_tried_max_attempts_times_then_recorded_failed(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    jobs = [*numbered_jobs("a", 10), {"id": "boom", "payload": {"fail": True}}]
    register(runtime, tmp_path, "python:publishers.examples:flaky", {"a": jobs}, max_attempts=2)
    run_id = fire(runtime)
    assert runtime.wait_idle(WAIT)
    run = runtime.ledger.get_run(run_id)
    assert run is not None and (run.state, run.succeeded, run.failed) == (RunState.FAILED, 10, 1)
    [failed] = job_results(runtime.ledger, run_id, JobStatus.FAILED.value)
    assert (failed.ref.job_id, failed.tries) == ("boom", 2)
    assert failed.error == "RuntimeError: job boom was told to fail"


def test_a_target_that_breaks_after_registration_fails_its_jobs_with_the_reason(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    module = tmp_path / "vanishing_worker.py"
    module.write_text("def handler(event, context):\n    return 1\n")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        register(
            runtime,
            tmp_path,
            "python:vanishing_worker:handler",
            {"a": numbered_jobs("a", 2)},
            max_attempts=1,
        )
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("vanishing_worker", None)
    module.unlink()
    run_id = fire(runtime)
    assert runtime.wait_idle(WAIT)
    results = job_results(runtime.ledger, run_id)
    assert {r.status for r in results} == {JobStatus.FAILED}
    assert "cannot import module 'vanishing_worker'" in results[0].error


def test_a_worker_that_calls_sys_exit_fails_its_attempt_and_the_service_goes_on(
    lambdas: LocalLambda,
) -> None:
    import sys

    records: list[dict[str, Any]] = []
    lambdas.define(
        FunctionConfig(
            "quits", lambda e, c: sys.exit(3), max_attempts=1, destination=records.append
        )
    )
    for _ in range(8):  # more than the pool's threads: none of them may die
        lambdas.invoke_async("quits", {})
    assert lambdas.wait_idle(WAIT)
    assert len(records) == 8
    assert records[0]["responsePayload"] == {"errorType": "SystemExit", "errorMessage": "3"}


def test_an_event_older_than_its_maximum_age_is_dropped_with_a_failure_record(
    lambdas: LocalLambda,
) -> None:
    records: list[dict[str, Any]] = []
    ran: list[int] = []
    gate = threading.Event()
    lambdas.define(FunctionConfig("gate", lambda e, c: gate.wait(WAIT), max_concurrency=1))
    lambdas.define(
        FunctionConfig(
            "worker",
            lambda e, c: ran.append(e["i"]),
            max_concurrency=1,
            max_event_age=0.05,
            destination=records.append,
        )
    )
    lambdas.invoke_async("worker", {"i": 0})
    assert lambdas.wait_idle(WAIT)
    # Now a queue behind one busy invocation: by their turn the others have waited too long.
    lambdas.define(
        FunctionConfig(
            "slow",
            lambda e, c: (gate.wait(WAIT), ran.append(e["i"])),
            max_concurrency=1,
            max_event_age=0.05,
            destination=records.append,
        )
    )
    for i in (1, 2):
        lambdas.invoke_async("slow", {"i": i})
    time.sleep(0.2)
    gate.set()
    assert lambdas.wait_idle(WAIT)
    assert ran == [0, 1] and lambdas.stats.expired == 1
    expired = [r for r in records if r["requestContext"]["condition"] == "EventAgeExceeded"]
    assert [r["requestPayload"]["i"] for r in expired] == [2]


def test_a_result_record_too_large_to_deliver_is_dropped_and_counted(
    runtime: LocalRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(SUPPORT))
    monkeypatch.setenv("CRONBRIDGE_TEST_EVIDENCE", str(tmp_path))
    jobs = [{"id": "big", "payload": {"answer_bytes": 300_000}}, *numbered_jobs("a", 3)]
    register(runtime, tmp_path, "python:sample_workers:bloated", {"a": jobs})
    run_id = fire(runtime)
    assert runtime.wait_idle(WAIT)
    assert runtime.destination.delivery_failures == 1
    assert [r.ref.job_id for r in job_results(runtime.ledger, run_id)] == ["a-0", "a-1", "a-2"]
    run = runtime.ledger.get_run(run_id)
    assert run is not None and run.state is RunState.RUNNING  # until its deadline's sweep
