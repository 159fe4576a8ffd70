"""The local runtime end to end over real HTTP: no-op jobs per second, and the time
from a trigger PUT to its first job starting (median and p99).

    python -m bench.local_runtime
"""

from __future__ import annotations

import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.workers import STARTED
from bridge.domain.controls import Controls
from bridge.domain.runs import RunState
from bridge.local.home import Home
from bridge.local.runtime import LocalRuntime
from bridge.local.server import TriggerServer
from bridge.usecases.register import ListSource

COMMAND = "python -m bench.local_runtime"
JOBS = 20_000
LATENCY_SAMPLES = 100


def _jobs(path: Path, count: int) -> ListSource:
    with path.open("w") as handle:
        for i in range(count):
            handle.write(json.dumps({"id": f"j{i}", "payload": {"n": i}}) + "\n")
    return ListSource.from_path("a", path)


def _wait_finished(runtime: LocalRuntime, run_id: str) -> Any:
    while True:
        run = runtime.ledger.get_run(run_id)
        if run is not None and run.state.finished:
            return run
        time.sleep(0.002)


@contextlib.contextmanager
def local_pipeline(tmp: Path, workers: int) -> Iterator[tuple[Home, LocalRuntime, TriggerServer]]:
    """A home in `tmp`, its runtime and its trigger endpoint (bucket "b") on a free port."""
    home = Home(tmp / "home")
    runtime = LocalRuntime(home, workers=workers)
    server = TriggerServer(runtime, secret=home.secret(), bucket="b", port=0)
    server.start()
    try:
        yield home, runtime, server
    finally:
        server.stop()
        runtime.close()


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, local_pipeline(Path(tmp), 16) as pipeline:
        home, runtime, server = pipeline
        runtime.register(
            "bulk",
            "python:bench.workers:noop",
            [_jobs(Path(tmp) / "bulk.jsonl", JOBS)],
            Controls(),
        )
        runtime.register(
            "one", "python:bench.workers:stamp", [_jobs(Path(tmp) / "one.jsonl", 1)], Controls()
        )
        headers = {"User-Agent": home.secret()}
        with httpx.Client() as client:
            started = time.perf_counter()
            answer = client.put(f"{server.url}/b/triggers/bulk", headers=headers)
            run = _wait_finished(runtime, answer.headers["x-cronbridge-run"])
            elapsed = time.perf_counter() - started
            if run.state is not RunState.SUCCEEDED or run.succeeded != JOBS:
                raise RuntimeError(f"the bulk run did not succeed: {run}")
            latencies = []
            for i in range(LATENCY_SAMPLES):
                body = json.dumps({"scheduled_time": f"2026-11-22T{i // 60:02d}:{i % 60:02d}:00Z"})
                sent = time.perf_counter()
                client.put(f"{server.url}/b/triggers/one", content=body, headers=headers)
                latencies.append((STARTED.get(timeout=30) - sent) * 1000)
                runtime.wait_idle(30)
    latencies.sort()
    return {
        "jobs_per_s": round(JOBS / elapsed, 1),
        "first_job_ms_p50": round(statistics.median(latencies), 2),
        "first_job_ms_p99": round(
            latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2
        ),
        "jobs": JOBS,
        "samples": LATENCY_SAMPLES,
        "command": COMMAND,
    }


if __name__ == "__main__":
    json.dump(measure(), sys.stdout, indent=2)
    print()
