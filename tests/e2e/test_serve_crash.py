"""`cronbridge serve` killed while helper-wrapped workers hold their claims, then
started again: the resumed run takes those claims over and ends with one effect a job."""

from __future__ import annotations

import collections
import os
import signal
import time
from pathlib import Path

from bridge.domain.runs import RunState
from tests.e2e.conftest import DEADLINE, Serve
from tests.e2e.test_serve import put, register


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_claims_held_by_a_killed_server_are_taken_over_by_the_resumed_run(
    tmp_path: Path,
) -> None:
    """4 quick jobs finish (effect done, claim done), then 4 gated jobs take the 4 slots
    and hold their claims while they wait; serve is killed there, so each job is either
    done or not yet started: none is in the window no claim can close (effect done,
    claim not yet marked done), and every effect must happen exactly once."""
    quick = [f"quick-{i}" for i in range(4)]
    gated = [f"gated-{i}" for i in range(8)]
    jobs = [{"id": j, "payload": {}} for j in quick] + [
        {"id": j, "payload": {"gated": True}} for j in gated
    ]
    first = Serve(tmp_path)
    try:
        register(
            first,
            tmp_path,
            "python:crash_workers:gated_effect",
            {"a": jobs},
            "--max-concurrency",
            "4",
            "--timeout",
            "5s",
        )
        run_id = put(first, "/cronbridge-triggers/triggers/g").headers["x-cronbridge-run"]
        end = time.monotonic() + DEADLINE
        while len(lines(first.evidence / "started.log")) < 4 and time.monotonic() < end:
            time.sleep(0.02)
        held = lines(first.evidence / "started.log")
        os.kill(first.proc.pid, signal.SIGKILL)  # the 4 gated attempts die holding claims
        first.proc.wait(timeout=30)
        interrupted = first.ledger.get_run(run_id)
    finally:
        first.stop()
    assert len(held) == 4 and set(held) <= set(gated)
    assert sorted(lines(first.evidence / "effects.log")) == quick
    assert interrupted is not None and interrupted.state is RunState.RUNNING

    (first.evidence / "gate").touch()
    second = Serve(tmp_path)
    try:
        assert f"resuming run {run_id} (resent)" in "".join(second.banner)
        run = second.wait_for_run(run_id)
    finally:
        second.stop()
    assert (run.state, run.succeeded, run.failed) == (RunState.SUCCEEDED, 12, 0), run
    effects = collections.Counter(lines(second.evidence / "effects.log"))
    assert effects == dict.fromkeys(quick + gated, 1)
