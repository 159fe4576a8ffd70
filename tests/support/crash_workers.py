"""A helper-wrapped worker for the crash tests, registered as a python: target. Each
job's side effect is a line in evidence/effects.log, so a test in another process can
count them."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bridge.domain.results import JobRef
from publishers.worker import cronbridge_worker


def _note(name: str, job_id: str) -> None:
    with (Path(os.environ["CRONBRIDGE_TEST_EVIDENCE"]) / name).open("a") as handle:
        handle.write(job_id + "\n")


def _effect(payload: Any, job: JobRef) -> str:
    """A job whose payload says `gated` notes in started.log that it holds its claim,
    then waits for evidence/gate (at most 60 s) before its effect."""
    if isinstance(payload, dict) and payload.get("gated"):
        _note("started.log", job.job_id)
        gate = Path(os.environ["CRONBRIDGE_TEST_EVIDENCE"]) / "gate"
        deadline = time.monotonic() + 60
        while not gate.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the gate never opened")
            time.sleep(0.01)
    _note("effects.log", job.job_id)
    return job.job_id


gated_effect = cronbridge_worker(_effect)
