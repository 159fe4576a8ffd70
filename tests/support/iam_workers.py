"""Workers for the role policy test (tests/terraform/test_role_policies.py), each a handler
of its own: the worker helper keeps its claim store per handler, as a Lambda container
would (see sample_workers.py)."""

from __future__ import annotations

import threading
from typing import Any

from bridge.domain.results import JobRef
from bridge.local.queue import DESTINATION_LIMIT
from publishers.worker import cronbridge_worker

#: set when the fix for payloads marked "fragile" is deployed
FIXED = threading.Event()
#: a payload marked "gated" waits for GATE (at most 60 s), after setting HELD
GATE = threading.Event()
HELD = threading.Event()
#: the size of every "blob" a worker was handed, by job id
BLOBS: dict[str, int] = {}


def _work(payload: Any, job: JobRef) -> dict[str, Any]:
    payload = payload if isinstance(payload, dict) else {}
    if payload.get("fragile") and not FIXED.is_set():
        raise RuntimeError(f"job {job.job_id} fails until it is fixed")
    if payload.get("gated"):
        HELD.set()
        GATE.wait(60)
    if "blob" in payload:
        BLOBS[job.job_id] = len(payload["blob"])
    return {"done": job.job_id}


#: a `lambda:` target's worker
worker = cronbridge_worker(_work)
#: an `sqs:` target's consumer (the helper records its results in the ledger itself)
consumer = cronbridge_worker(_work)


def lossy(event: dict[str, Any], context: Any) -> str:
    """A raw handler answering more than a destination record may carry: Lambda drops
    its record, so only the sweeper can end its run."""
    return "x" * (DESTINATION_LIMIT + 1)
