"""Workers the tests register as python: targets. They leave evidence in files, so a
test in another process can see what ran."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def _evidence_dir() -> Path:
    return Path(os.environ["CRONBRIDGE_TEST_EVIDENCE"])


def note(event: dict[str, Any], context: Any) -> str:
    """Appends the job id to evidence/calls.log; succeeds."""
    job = event["cronbridge"]["job"]
    with (_evidence_dir() / "calls.log").open("a") as handle:
        handle.write(job + "\n")
    return job


def fail_while_broken(event: dict[str, Any], context: Any) -> str:
    """Logs the call; fails while evidence/broken exists and the payload says it may."""
    job = event["cronbridge"]["job"]
    with (_evidence_dir() / "calls.log").open("a") as handle:
        handle.write(job + "\n")
    payload = event.get("payload") or {}
    if payload.get("fragile") and (_evidence_dir() / "broken").exists():
        raise RuntimeError(f"job {job} is broken")
    return job


def wait_for_gate(event: dict[str, Any], context: Any) -> str:
    """Blocks until evidence/gate exists (at most 60 s), so a run stays running."""
    deadline = time.monotonic() + 60
    while not (_evidence_dir() / "gate").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return event["cronbridge"]["job"]


def slow_note(event: dict[str, Any], context: Any) -> str:
    """Like note, 20 ms slower: a run that lasts long enough to be interrupted."""
    time.sleep(0.02)
    return note(event, context)
