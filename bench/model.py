"""A discrete-event model of the cloud: how long a schedule takes, trigger to all jobs
dispatched and trigger to all jobs done, for 10k, 100k and 1M jobs, three ways:

- cronbridge's publisher tree (branching 10, 1,000 jobs a leaf);
- one hand-written publisher with a thread pool;
- Step Functions Distributed Map (10,000 parallel child executions).

Virtual time: it runs in seconds whatever it models.

    python -m bench.model [--invoke-cpu-us N]

Assumptions, each with its source:
- A function scales by 1,000 execution environments every 10 seconds, up to the
  account's concurrency (https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html).
  We model an account raised to 10,000 (the default is 1,000:
  https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
- Asynchronous invocations wait in Lambda's queue while the function is at its limit,
  and are retried for up to 6 hours; none is lost
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html).
- A publisher is bound by CPU: each async invoke costs `invoke_cpu_us` of CPU for
  cronbridge's path and `hand_written_invoke_cpu_us` for boto3's client.invoke (both
  measured by bench/invoke_cpu.py when `make bench` runs; 1 ms otherwise), one core per
  process (the GIL), and an Invoke call's ~20 ms on the network is hidden by threads.
- A cold publisher starts in 250 ms; a tree level costs that plus ten invokes.
- Distributed Map runs at most 10,000 child executions at once
  (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html), and
  a child adds about 50 ms to start and to invoke its worker synchronously (our estimate).
- Every job's worker takes `job_seconds` (1 s by default) once started.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

COMMAND = "python -m bench.model"
SIZES = (10_000, 100_000, 1_000_000)


@dataclass(frozen=True)
class Cloud:
    invoke_cpu_us: float = 1000.0  # cronbridge's publisher, per async invoke
    hand_written_invoke_cpu_us: float = 1000.0  # a publisher calling boto3's client.invoke
    job_seconds: float = 1.0
    account_concurrency: int = 10_000
    burst: int = 1_000  # environments a function may add at once...
    step: int = 1_000  # ...and every `step_seconds` after that
    step_seconds: float = 10.0
    cold_start: float = 0.25
    part_size: int = 1_000
    branching: int = 10
    map_concurrency: int = 10_000
    map_child_overhead: float = 0.05

    def limit(self, t: float) -> int:
        return min(self.account_concurrency, self.burst + self.step * int(t // self.step_seconds))

    @property
    def invokes_per_second(self) -> float:
        return 1e6 / self.invoke_cpu_us

    @property
    def hand_written_invokes_per_second(self) -> float:
        return 1e6 / self.hand_written_invoke_cpu_us


def tree_arrivals(cloud: Cloud, jobs: int) -> Iterator[float]:
    """When each job's invoke reaches Lambda, through the publisher tree."""
    leaves = math.ceil(jobs / cloud.part_size)
    depth = max(1, math.ceil(math.log(leaves, cloud.branching))) if leaves > 1 else 0
    level = cloud.cold_start + cloud.branching / cloud.invokes_per_second
    start = depth * level + cloud.cold_start  # every leaf starts together, one level down
    for leaf in range(leaves):
        size = min(cloud.part_size, jobs - leaf * cloud.part_size)
        for i in range(size):
            yield start + (i + 1) / cloud.invokes_per_second


def single_arrivals(cloud: Cloud, jobs: int) -> Iterator[float]:
    for i in range(jobs):
        yield cloud.cold_start + (i + 1) / cloud.hand_written_invokes_per_second


def run_pool(
    cloud: Cloud, arrivals: list[float], extra_cap: int | None = None, overhead: float = 0.0
) -> tuple[float, float]:
    """Start each job when it has arrived and the function has room; (last start, last end)."""
    arrivals.sort()
    running: list[float] = []  # end times
    now = 0.0
    last_start = last_end = 0.0
    for arrival in arrivals:
        now = max(now, arrival)
        while True:
            while running and running[0] <= now:
                heapq.heappop(running)
            cap = cloud.limit(now) if extra_cap is None else min(cloud.limit(now), extra_cap)
            if len(running) < cap:
                break
            next_step = (now // cloud.step_seconds + 1) * cloud.step_seconds
            now = (
                min(running[0], next_step)
                if cloud.limit(now) < cloud.account_concurrency
                else running[0]
            )
        end = now + overhead + cloud.job_seconds
        heapq.heappush(running, end)
        last_start, last_end = now, max(last_end, end)
    return last_start, last_end


def model(cloud: Cloud) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for jobs in SIZES:
        tree = list(tree_arrivals(cloud, jobs))
        single = list(single_arrivals(cloud, jobs))
        _, tree_end = run_pool(cloud, tree)
        _, single_end = run_pool(cloud, single)
        # Distributed Map: every item is ready at once; a child holds a Map slot for its
        # worker's whole run, and starting it is what "dispatched" means.
        map_start, map_end = run_pool(
            cloud, [0.0] * jobs, extra_cap=cloud.map_concurrency, overhead=cloud.map_child_overhead
        )
        results[str(jobs)] = {
            "cronbridge_tree": {
                "all_dispatched_s": round(max(tree), 2),
                "all_done_s": round(tree_end, 2),
            },
            "single_publisher": {
                "all_dispatched_s": round(max(single), 2),
                "all_done_s": round(single_end, 2),
            },
            "step_functions_distributed_map": {
                "all_dispatched_s": round(map_start, 2),
                "all_done_s": round(map_end, 2),
            },
        }
    return {"assumptions": asdict(cloud), "by_jobs": results, "command": COMMAND}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoke-cpu-us", type=float, default=Cloud.invoke_cpu_us)
    parser.add_argument(
        "--hand-written-invoke-cpu-us", type=float, default=Cloud.hand_written_invoke_cpu_us
    )
    parser.add_argument("--job-seconds", type=float, default=Cloud.job_seconds)
    args = parser.parse_args(argv)
    json.dump(
        model(
            Cloud(
                invoke_cpu_us=args.invoke_cpu_us,
                hand_written_invoke_cpu_us=args.hand_written_invoke_cpu_us,
                job_seconds=args.job_seconds,
            )
        ),
        sys.stdout,
        indent=2,
    )
    print()


if __name__ == "__main__":
    main()
