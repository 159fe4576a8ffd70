"""How long the console's pages take on this machine for a group of 1,000 runs and a run
of 100,000 jobs (2,000 of them failed), served by `cronbridge ui`'s own server over
loopback HTTP, read from a local ledger the real runtime wrote.

Each page is fetched once cold (`ms_first`: the console caches a run's pass over its
results, so this is the figure a person opening the page meets), then `SAMPLES` times;
the figures are wall clock from request to the last byte, in milliseconds.

    python -m bench.console_pages
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.local_runtime import _jobs, _wait_finished, local_pipeline
from bridge.domain.controls import Controls, Overlap
from bridge.domain.runs import Run
from bridge.local.home import Home
from bridge.local.runtime import LocalRuntime
from bridge.local.server import TriggerServer
from bridge.ui.server import start_console

COMMAND = "python -m bench.console_pages"
BIG_RUN_JOBS = 100_000
GROUP_RUNS = 1_000
SAMPLES = 20


def _fill(runtime: LocalRuntime, server: TriggerServer, home: Home, tmp: Path) -> str:
    """A 100,000-job run with failures, and a group of GROUP_RUNS one-job runs."""
    runtime.register(
        "big",
        "python:bench.workers:some_fail",
        [_jobs(tmp / "big.jsonl", BIG_RUN_JOBS)],
        Controls(max_attempts=1),
    )
    runtime.register(
        "many",
        "python:bench.workers:noop",
        [_jobs(tmp / "one.jsonl", 1)],
        Controls(overlap=Overlap.ALLOW),
    )
    headers = {"User-Agent": home.secret()}
    with httpx.Client(timeout=60) as client:
        big = client.put(f"{server.url}/b/triggers/big", headers=headers)
        many = []
        for i in range(GROUP_RUNS):  # one a slot; they run side by side
            body = json.dumps({"scheduled_time": f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z"})
            answer = client.put(f"{server.url}/b/triggers/many", content=body, headers=headers)
            many.append(answer.headers["x-cronbridge-run"])
    for run_id in many:
        _wait_finished(runtime, run_id)
    finished: Run = _wait_finished(runtime, big.headers["x-cronbridge-run"])
    return finished.run_id


def _time_page(client: httpx.Client, path: str) -> dict[str, Any]:
    started = time.perf_counter()
    client.get(path).raise_for_status()  # the first load: nothing of this page cached yet
    first = (time.perf_counter() - started) * 1000
    took = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        answer = client.get(path)
        took.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    return {
        "path": path,
        "ms_first": round(first, 1),
        "ms_p50": round(statistics.median(took), 1),
        "ms_max": round(max(took), 1),
        "kb": round(len(answer.content) / 1024, 1),
    }


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        with local_pipeline(Path(tmp), 8) as (home, runtime, server):
            started = time.perf_counter()
            big = _fill(runtime, server, home, Path(tmp))
            filled_s = time.perf_counter() - started
        console = start_console("local", home, port=0)
        try:
            with httpx.Client(base_url=console.url, timeout=60) as client:
                client.get(console.login_url, follow_redirects=True).raise_for_status()
                pages = [
                    _time_page(client, "/"),
                    _time_page(client, "/groups/many"),
                    _time_page(client, "/groups/many?page=20"),
                    _time_page(client, f"/runs/{big}"),
                    _time_page(client, f"/runs/{big}/live"),
                    _time_page(client, f"/runs/{big}?page=40"),
                    _time_page(client, f"/runs/{big}/jobs/j50"),
                ]
        finally:
            console.stop()
    return {
        "big_run_jobs": BIG_RUN_JOBS,
        "group_runs": GROUP_RUNS,
        "samples": SAMPLES,
        "fill_s": round(filled_s, 1),
        "slowest_page_ms_p50": max(page["ms_p50"] for page in pages),
        "slowest_page_ms_first": max(page["ms_first"] for page in pages),
        "pages": pages,
        "command": COMMAND,
    }


if __name__ == "__main__":
    json.dump(measure(), sys.stdout, indent=2)
    print()
