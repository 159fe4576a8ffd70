"""Workers the tests register as python: targets. They leave evidence in files, so a
test in another process can see what ran."""

from __future__ import annotations

import collections
import os
import threading
import time
from pathlib import Path
from typing import Any

from publishers.worker import cronbridge_worker


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


def note_run(event: dict[str, Any], context: Any) -> str:
    """Appends "<run> <job>" to evidence/runs.log as the job starts; succeeds."""
    meta = event["cronbridge"]
    with (_evidence_dir() / "runs.log").open("a") as handle:
        handle.write(f"{meta['run']} {meta['job']}\n")
    return str(meta["job"])


def bloated(event: dict[str, Any], context: Any) -> Any:
    """Notes the call (and its run); answers `payload["answer_bytes"]` bytes of text, if
    the payload asks for it: an answer too large to deliver as a destination record."""
    job = note(event, context)
    note_run(event, context)
    size = (event.get("payload") or {}).get("answer_bytes")
    return "x" * int(size) if size else job


def slow_note(event: dict[str, Any], context: Any) -> str:
    """Like note, 20 ms slower: a run that lasts long enough to be interrupted."""
    time.sleep(0.02)
    return note(event, context)


# -- side effects, for the fault-injection suite ------------------------------------------
# Each job's side effect is counted in this process. Payloads marked "permanent" fail
# until FIXED is set, as a bug would until its fix is deployed.
EFFECTS: collections.Counter[str] = collections.Counter()
FIXED = threading.Event()
_EFFECTS_LOCK = threading.Lock()


def _effect(payload: Any, job: Any) -> dict[str, str]:
    if isinstance(payload, dict) and payload.get("permanent") and not FIXED.is_set():
        raise RuntimeError(f"job {job.job_id} fails until it is fixed")
    with _EFFECTS_LOCK:
        EFFECTS[job.job_id] += 1
    return {"done": job.job_id}


# One handler per runtime: the helper keeps its claim store for the life of the handler,
# as a Lambda container would, so the local and the AWS suites must not share one.
effect_local = cronbridge_worker(_effect)
effect_aws = cronbridge_worker(_effect)
effect_aws_lossy = cronbridge_worker(_effect)  # its own sandbox, so its own claim store
