"""The AWS code path end to end over real protocols: moto's server (S3, DynamoDB, SQS),
the Lambda Invoke API emulator, a PUT to the trigger bucket over HTTP."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.domain.controls import Controls
from bridge.domain.runs import Run, RunState
from bridge.sandbox import Sandbox
from bridge.usecases.register import ListSource, register_group
from tests.conftest import SUPPORT, numbered_jobs, write_jobs

DEADLINE = 240.0  # bounds a wait so a broken test ends; never a claim about speed


@pytest.fixture
def evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "evidence"
    path.mkdir()
    monkeypatch.setenv("CRONBRIDGE_TEST_EVIDENCE", str(path))
    monkeypatch.syspath_prepend(str(SUPPORT))
    return path


def start_sandbox(throttle: float = 0.0) -> Sandbox:
    sandbox = Sandbox({"worker": "sample_workers:note"}, throttle=throttle)
    sandbox.start()
    return sandbox


@pytest.fixture
def restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def register(sandbox: Sandbox, tmp_path: Path, lists: dict[str, int]) -> None:
    sources = [
        ListSource.from_path(name, write_jobs(tmp_path / f"{name}.jsonl", numbered_jobs(name, n)))
        for name, n in lists.items()
    ]
    register_group(
        "g",
        "lambda:worker",
        sources,
        Controls(),
        registry=sandbox.runtime.registry,
        clock=sandbox.runtime.clock,
        check_target=lambda target, controls: None,
    )


def fire(sandbox: Sandbox, body: bytes = b"") -> None:
    """What a scheduler does: one anonymous PUT with the User-Agent, over HTTP."""
    url = f"{sandbox.env['AWS_ENDPOINT_URL']}/{sandbox.names.trigger_bucket}/triggers/g"
    response = httpx.put(url, content=body, headers={"User-Agent": "the-secret"})
    assert response.status_code == 200


def wait_for_one_run(sandbox: Sandbox) -> Run:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        runs = sandbox.runtime.ledger.list_runs("g", 10)
        if runs and runs[0].state.finished:
            return runs[0]
        time.sleep(0.2)
    raise AssertionError(f"no finished run: {sandbox.runtime.ledger.list_runs('g', 10)}")


@pytest.mark.usefixtures("restore_environ")
def test_a_put_runs_a_3000_job_list_through_the_tree_to_the_ledger(
    evidence: Path, tmp_path: Path
) -> None:
    sandbox = start_sandbox()
    try:
        register(sandbox, tmp_path, {"big": 3000, "small": 5})
        fire(sandbox, b'{"scheduled_time": "2026-11-22T03:00:00Z"}')
        finished = wait_for_one_run(sandbox)
        assert sandbox.wait_idle(DEADLINE)
        run = sandbox.runtime.ledger.get_run(finished.run_id)  # its last part marked too
    finally:
        sandbox.stop()
    assert run is not None
    assert (run.run_id, run.state, run.dispatched, run.succeeded, run.failed) == (
        "g.20261122T030000Z",
        RunState.SUCCEEDED,
        3005,
        3005,
        0,
    )
    calls = (evidence / "calls.log").read_text().split()
    assert sorted(calls) == sorted(
        [f"big-{i}" for i in range(3000)] + [f"small-{i}" for i in range(5)]
    )


@pytest.mark.usefixtures("restore_environ")
def test_throttled_invokes_are_retried_and_every_job_runs_once(
    evidence: Path, tmp_path: Path
) -> None:
    sandbox = start_sandbox(throttle=0.2)
    try:
        register(sandbox, tmp_path, {"a": 120})
        fire(sandbox)
        run = wait_for_one_run(sandbox)
        assert sandbox.wait_idle(DEADLINE)
        throttled = sandbox.api.throttled
    finally:
        sandbox.stop()
    assert throttled > 0
    assert (run.state, run.succeeded) == (RunState.SUCCEEDED, 120)
    calls = (evidence / "calls.log").read_text().split()
    assert sorted(calls) == sorted(f"a-{i}" for i in range(120))


@pytest.mark.usefixtures("restore_environ")
def test_a_paced_run_waits_between_wakes_in_the_pacing_queue_not_in_a_lambda(
    evidence: Path, tmp_path: Path
) -> None:
    """max_rate 4 over 10 jobs: one lane, 4 jobs a wake, a wake a second. Its next two
    wakes are messages delayed by a second, counted from what moto received."""
    recording = tmp_path / "moto.jsonl"
    sandbox = Sandbox({"worker": "sample_workers:note"}, recording=recording)
    sandbox.start()
    try:
        source = ListSource.from_path("a", write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 10)))
        register_group(
            "g",
            "lambda:worker",
            [source],
            Controls(max_rate=4),
            registry=sandbox.runtime.registry,
            clock=sandbox.runtime.clock,
            check_target=lambda target, controls: None,
        )
        fire(sandbox)
        run = wait_for_one_run(sandbox)
        assert sandbox.wait_idle(DEADLINE)
        requests = sandbox.recorded_requests()
    finally:
        sandbox.stop()
    assert (run.state, run.succeeded) == (RunState.SUCCEEDED, 10)
    assert sorted((evidence / "calls.log").read_text().split()) == sorted(
        f"a-{i}" for i in range(10)
    )
    sent = [
        body
        for target, body in map(sqs_request, requests)
        if target == "AmazonSQS.SendMessage" and body["QueueUrl"].endswith("/cronbridge-pacing")
    ]
    assert [(m["DelaySeconds"], json.loads(m["MessageBody"])["offset"]) for m in sent] == [
        (1, 4),
        (1, 8),
    ]


def sqs_request(entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An SQS request as moto recorded it: its operation and its JSON body."""
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    target = headers.get("x-amz-target", "")
    if not target.startswith("AmazonSQS."):
        return "", {}
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode()
    return target, json.loads(body or "{}")
