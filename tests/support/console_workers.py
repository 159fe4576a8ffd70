"""The worker of the console's browser test, registered as python:console_workers:handler.

Files in the evidence folder (CRONBRIDGE_TEST_EVIDENCE, which `serve` inherits) steer it
from the test's process:
- every job waits for `gate` (at most a minute), so a run is still running when the
  browser opens its page, and ends only once the test has looked; then it takes
  `payload["seconds"]` (if given), so that its results spread over a few seconds;
- a job whose payload says `"flaky": true` fails until `fixed` exists, with a realistic
  error (the first line and a second one), as a bug would until its fix is deployed;
- a job whose payload carries `"raise": TEXT` always fails with TEXT as its message.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def _evidence(name: str) -> Path:
    return Path(os.environ["CRONBRIDGE_TEST_EVIDENCE"]) / name


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = event["cronbridge"]["job"]
    payload = event.get("payload") or {}
    deadline = time.monotonic() + 60
    while not _evidence("gate").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(float(payload.get("seconds", 0)))
    with _evidence("calls.log").open("a") as log:
        log.write(f"{job}\n")
    if "raise" in payload:
        raise ValueError(payload["raise"])
    if payload.get("flaky") and not _evidence("fixed").exists():
        raise ConnectionError(
            f"invoice {payload.get('n')}: upstream billing API answered 503 after 30 s\n"
            "retry once the billing API is back"
        )
    return {"job": job, "total": payload.get("n", 0) * 3}
