"""A model of a run in the cloud, with every published limit that binds.

For N jobs of `job_seconds` each at an account concurrency C, three ways:

- cronbridge: the publisher tree (10 wide, 1,000 jobs a leaf) invokes the workers
  asynchronously; their destination records go to the results queue; the recorder
  takes them in batches through an event source mapping and writes result chunks; an
  exact recount ends the run;
- Step Functions Distributed Map: up to 10,000 child executions (Express), each
  invoking the worker synchronously; the Map Run ends when the last child does;
- one hand-written publisher: a single function calling boto3's `client.invoke` in a
  loop, and a recorder writing one item per result under the run's key.

It reports trigger -> all dispatched, -> all recorded, -> run ended; the results per
second one run can record; and orchestration cost per 1M jobs (everything but the
worker itself). Virtual time, in steps of `STEP` seconds: it runs in seconds.

    python -m bench.model [--aws-calls bench/results.json]

Limits, each with its source (checked 2026-11):
- A function scales by 1,000 execution environments every 10 seconds, up to the
  account's concurrency: https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html
- Invocation requests: at most 10 x the account's concurrency per second (the quota for
  synchronous invokes; older versions of the page applied it to asynchronous invokes
  too, and we keep that, the stricter reading):
  https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
- An asynchronous event waits at most 6 hours for a free environment, then is dropped
  with EventAgeExceeded: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html
- An SQS event source mapping starts with 5 concurrent batches and adds up to 300 a
  minute, up to 1,250 (or its maximum concurrency setting, 2 to 1,000):
  https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html,
  https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html
- A batch holds at most 10,000 records, gathered over up to 300 s, and at most the 6 MB a
  synchronous invocation carries: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html
- DynamoDB serves at most 1,000 write units per second per partition:
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html;
  a new on-demand table 4,000 writes per second until warmed (warm throughput raises it):
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/pre-warming-on-demand-capacity-mode.html
- A Distributed Map runs at most 10,000 child workflows at once (no start rate is
  published): https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html
- A Lambda function runs at most 15 minutes:
  https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html

Measured on this repository's sandbox (bench/aws_calls.py, bench/invoke_cpu.py): write
units per job and on the hottest key, the recorder's seconds per result, the CPU of an
invoke. Our own estimates, named as such: cold start 0.25 s, a Distributed Map child's
overhead 50 ms, a recorder batch's fixed 0.1 s, a recount reading 20 MB/s, a
destination record of 1.5 KB.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import deque
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bridge.domain.controls import Controls
from bridge.domain.cost import PRICES, WorkerProfile, estimate, orchestration_per_million
from bridge.domain.groups import GroupManifest, ListManifest, plan_parts

COMMAND = "python -m bench.model"
#: every published limit the model applies, with where it is published
SOURCES = {
    "a function adds 1,000 environments every 10 s, up to the account's concurrency": "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html",
    "invocation requests: at most 10 x the account's concurrency a second": "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    "an asynchronous event waits at most 6 hours": "https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html",
    "an SQS event source starts with 5 concurrent batches, adds 300 a minute, up to 1,250": "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html",
    "an SQS event source's maximum concurrency: 2 to 1,000": "https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html",
    "a batch: at most 10,000 records over at most 300 s, and 6 MB": "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html",
    "DynamoDB: 1,000 write units a second per partition": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html",
    "a new on-demand table: 4,000 writes a second until warmed": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/pre-warming-on-demand-capacity-mode.html",
    "a Distributed Map: at most 10,000 child workflows at once": "https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html",
    "a function runs at most 15 minutes": "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
}
SIZES = (10_000, 100_000, 1_000_000)
CONCURRENCIES = (1_000, 10_000)
APPROACHES = ("cronbridge", "step_functions_distributed_map", "single_publisher")
STEP = 0.05  # seconds of virtual time per step


@dataclass(frozen=True)
class Limits:
    scale_step: int = 1_000  # environments a function adds ...
    scale_seconds: float = 10.0  # ... every this many seconds
    invokes_per_concurrency: float = 10.0  # invocation requests per second per unit of concurrency
    event_age_seconds: float = 6 * 3600.0
    esm_initial: int = 5
    esm_step_per_minute: int = 300
    esm_max: int = 1_250
    batch_payload_bytes: int = 6 * 1024 * 1024
    partition_write_units: float = 1_000.0
    new_table_write_units: float = 4_000.0
    map_children: int = 10_000
    lambda_max_seconds: float = 900.0


@dataclass(frozen=True)
class Measured:
    """The last figures of bench/aws_calls.py and bench/invoke_cpu.py on this machine's
    sandbox; `make bench` passes fresh ones."""

    write_units_per_job: float = 0.113
    hottest_key_write_units_per_job: float = 0.021
    recorder_seconds_per_result: float = 0.00024
    invoke_cpu_us: float = 660.0  # cronbridge's publisher path
    hand_written_invoke_cpu_us: float = 1832.0  # boto3's client.invoke


@dataclass(frozen=True)
class Setup:
    """cronbridge as the Terraform module deploys it by default (variables.tf)."""

    part_size: int = 1_000
    branching: int = 10
    cold_start: float = 0.25  # our estimate
    results_batch_size: int = 1_000
    results_window: float = 2.0
    recorder_max_concurrency: int = 10
    record_bytes: int = 1_536  # a destination record with a small payload (our estimate)
    recorder_batch_overhead: float = 0.1  # our estimate
    recount_bytes_per_result: int = 45  # a chunk entry (bench/aws_calls.py)
    recount_mb_per_second: float = 20.0  # our estimate of consistent Query paging
    map_child_overhead: float = 0.05  # our estimate
    sweep_every: float = 60.0


@dataclass(frozen=True)
class Scenario:
    jobs: int
    concurrency: int
    job_seconds: float = 1.0


class Function:
    """One function's concurrency limit: +scale_step every scale_seconds from its first
    invocation, up to the account's."""

    def __init__(self, limits: Limits, account: int, cap: int | None = None) -> None:
        self.limits = limits
        self.account = account if cap is None else min(account, cap)
        self.first: float | None = None

    def limit(self, now: float) -> int:
        if self.first is None:
            self.first = now
        steps = int((now - self.first) // self.limits.scale_seconds)
        return min(self.account, self.limits.scale_step * (1 + steps))


class Completions:
    """Running invocations, by the step they end in."""

    def __init__(self) -> None:
        self.ending: dict[int, int] = {}
        self.running = 0

    def start(self, count: int, end_step: int) -> None:
        if count:
            self.ending[end_step] = self.ending.get(end_step, 0) + count
            self.running += count

    def finish(self, step: int) -> int:
        done = self.ending.pop(step, 0)
        self.running -= done
        return done


def simulate_cronbridge(s: Scenario, m: Measured, lim: Limits, setup: Setup) -> dict[str, Any]:
    leaves = math.ceil(s.jobs / setup.part_size)
    depth = math.ceil(math.log(leaves, setup.branching)) if leaves > 1 else 0
    invoke_cpu = m.invoke_cpu_us / 1e6
    leaves_ready_at = depth * (setup.cold_start + setup.branching * invoke_cpu) + setup.cold_start
    quota = lim.invokes_per_concurrency * s.concurrency  # invokes a second, account-wide
    publisher, worker = Function(lim, s.concurrency), Function(lim, s.concurrency)
    workers = Completions()
    recorders = Completions()
    queued = 0  # accepted invokes waiting for a worker environment
    to_dispatch = s.jobs
    waiting: deque[list[float]] = deque()  # [arrival, count] in the results queue
    recorded = 0
    pending_recorded: dict[int, int] = {}
    esm_first: float | None = None
    dispatched_at = recorded_at = None
    write_cap = min(
        lim.partition_write_units / m.hottest_key_write_units_per_job,
        lim.new_table_write_units / m.write_units_per_job,
    )
    batch = min(setup.results_batch_size, lim.batch_payload_bytes // setup.record_bytes)
    writes_done = 0.0
    step = 0
    while recorded < s.jobs:
        now = step * STEP
        # Publishers: every leaf with jobs left holds an environment while it invokes.
        leaves_left = math.ceil(to_dispatch / setup.part_size) if now >= leaves_ready_at else 0
        free = s.concurrency - workers.running - recorders.running
        holding = min(leaves_left, publisher.limit(now) if leaves_left else 0, max(free, 0))
        sent = min(to_dispatch, holding * STEP / invoke_cpu, quota * STEP)
        sent = int(sent) if to_dispatch - sent > 1 else to_dispatch
        to_dispatch -= sent
        queued += sent
        if to_dispatch == 0 and dispatched_at is None:
            dispatched_at = now
        # Workers take what the account and their own scaling leave free.
        for_results = workers.finish(step)
        free = s.concurrency - holding - workers.running - recorders.running
        room = min(
            queued, max(0, worker.limit(now) - workers.running) if queued else 0, max(free, 0)
        )
        workers.start(room, step + max(1, round(s.job_seconds / STEP)))
        queued -= room
        if for_results:
            waiting.append([now, for_results])
        # The recorder: pollers hand over full batches, or what waited a window.
        recorded += pending_recorded.pop(step, 0)
        recorders.finish(step)
        backlog = sum(c for _, c in waiting)
        if backlog:
            esm_first = now if esm_first is None else esm_first
            pollers = min(
                setup.recorder_max_concurrency,
                lim.esm_max,
                lim.esm_initial + lim.esm_step_per_minute * int((now - esm_first) // 60),
            )
            free_pollers = max(0, pollers - recorders.running)
            oldest = waiting[0][0]
            ripe = backlog >= batch or now - oldest >= setup.results_window
            while free_pollers and backlog and ripe:
                take = min(batch, backlog)
                backlog -= take
                _take(waiting, take)
                # DynamoDB serves the run's writes at most at write_cap results a second,
                # whatever the number of recorders: one queue of writes for all of them.
                writes_done = max(writes_done, now) + take / write_cap
                seconds = max(
                    setup.recorder_batch_overhead + take * m.recorder_seconds_per_result,
                    writes_done - now,
                )
                end = step + max(1, round(seconds / STEP))
                recorders.start(1, end)
                pending_recorded[end] = pending_recorded.get(end, 0) + take
                free_pollers -= 1
                ripe = backlog >= batch or (
                    bool(waiting) and now - waiting[0][0] >= setup.results_window
                )
        step += 1
        if now > 10 * lim.event_age_seconds:
            raise RuntimeError("the model did not converge")
    recorded_at = (step - 1) * STEP
    recount = s.jobs * setup.recount_bytes_per_result / (setup.recount_mb_per_second * 1e6)
    ceiling = min(
        write_cap,
        setup.recorder_max_concurrency
        * batch
        / (setup.recorder_batch_overhead + batch * m.recorder_seconds_per_result),
    )
    return {
        "all_dispatched_s": round(dispatched_at or 0.0, 1),
        "all_recorded_s": round(recorded_at, 1),
        "run_ended_s": round(recorded_at + recount, 1),
        "results_per_s_ceiling": round(ceiling),
    }


def _take(waiting: deque[list[float]], count: int) -> None:
    while count:
        _, available = waiting[0]
        used = min(available, count)
        count -= used
        if used == available:
            waiting.popleft()
        else:
            waiting[0][1] = available - used


def pool_run(
    s: Scenario,
    lim: Limits,
    *,
    rate: float | None,
    start: float = 0.0,
    cap: int | None = None,
    overhead: float = 0.0,
    record_rate: float | None = None,
) -> tuple[float, float, float]:
    """Jobs invoked at `rate` a second (None: all at once) from `start`, run as the
    worker function's scaling allows (at most `cap` at once), each holding an environment
    for its job plus `overhead`, results recorded at most `record_rate` a second.
    When the last was invoked, finished, recorded."""
    worker = Function(lim, s.concurrency, cap)
    running = Completions()
    duration = max(1, round((s.job_seconds + overhead) / STEP))
    left, queued, credit, backlog, recorded = s.jobs, 0, 0.0, 0.0, 0.0
    invoked_at = done_at = 0.0
    step = 0
    while recorded < s.jobs:
        now = step * STEP
        if left and now >= start:
            credit += left if rate is None else rate * STEP
            new = min(left, int(credit))
            credit -= new
            left -= new
            queued += new
            if not left:
                invoked_at = now
        finished = running.finish(step)
        if finished:
            done_at = now
            backlog += finished
        room = min(queued, max(0, worker.limit(now) - running.running)) if queued else 0
        running.start(room, step + duration)
        queued -= room
        drained = backlog if record_rate is None else min(backlog, record_rate * STEP)
        backlog -= drained
        recorded += drained
        step += 1
    return invoked_at, done_at, (step - 1) * STEP


def simulate_workers_only(s: Scenario, lim: Limits) -> float:
    """The bound Lambda's scaling alone sets: every job invoked at once, recorded at once."""
    return round(pool_run(s, lim, rate=None)[1], 1)


def simulate_distributed_map(s: Scenario, lim: Limits, setup: Setup) -> dict[str, Any]:
    """Children start as the Map's 10,000, the worker's scaling and the invoke quota
    allow (each invokes the worker synchronously and holds it for the job); the Map Run
    has each result when its child ends."""
    started, done, _ = pool_run(
        s,
        lim,
        rate=lim.invokes_per_concurrency * s.concurrency,
        start=setup.cold_start,
        cap=lim.map_children,
        overhead=setup.map_child_overhead,
    )
    return {
        "all_dispatched_s": round(started, 1),
        "all_recorded_s": round(done, 1),
        "run_ended_s": round(done, 1),
        "results_per_s_ceiling": round(min(lim.map_children, s.concurrency) / s.job_seconds),
    }


def simulate_single_publisher(
    s: Scenario, m: Measured, lim: Limits, setup: Setup
) -> dict[str, Any]:
    """One function invoking through boto3 (continuing itself every 15 minutes), and a
    recorder writing one item per result under the run's key: one partition, so at most
    1,000 results a second."""
    rate = min(1e6 / m.hand_written_invoke_cpu_us, lim.invokes_per_concurrency * s.concurrency)
    invoked, _, recorded = pool_run(
        s, lim, rate=rate, start=setup.cold_start, record_rate=lim.partition_write_units
    )
    return {
        "all_dispatched_s": round(invoked, 1),
        "all_recorded_s": round(recorded, 1),
        "run_ended_s": round(recorded, 1),
        "results_per_s_ceiling": round(lim.partition_write_units),
        "continuations": math.ceil(invoked / lim.lambda_max_seconds) - 1,
    }


def single_publisher_cost_per_million(m: Measured) -> float:
    """A hand-written publisher and a recorder function per result putting one item."""
    p = PRICES
    jobs = 1_000_000
    publisher = jobs * m.hand_written_invoke_cpu_us / 1e6 * p["lambda_gb_second_arm64"]
    recorder = jobs * (p["lambda_request"] + 0.02 * 0.128 * p["lambda_gb_second_arm64"])
    writes = jobs * 1 * p["dynamodb_write_unit"]
    return publisher + recorder + writes


def distributed_map_cost_per_million() -> float:
    manifest = GroupManifest(
        "bench", 1, "lambda:w", Controls(), (ListManifest("a", plan_parts(1_000_000)),), "-"
    )
    runs_a_month = 1
    result = estimate(manifest, runs_per_day=runs_a_month / 30.4, worker=WorkerProfile(1.0, 0.128))
    lines = result.approaches["step-functions-distributed-map"]
    return sum(line.usd for line in lines if "worker" not in line.what)


def model(
    measured: Measured | None = None, setup: Setup | None = None, limits: Limits | None = None
) -> dict[str, Any]:
    m, st, lim = measured or Measured(), setup or Setup(), limits or Limits()
    by_scenario: dict[str, Any] = {}
    for concurrency in CONCURRENCIES:
        for jobs in SIZES:
            s = Scenario(jobs, concurrency)
            cron = simulate_cronbridge(s, m, lim, st)
            bound = simulate_workers_only(s, lim)
            pace = jobs / max(cron["all_recorded_s"], 1.0)
            cron["cost_per_1m_jobs_usd"] = round(sum(orchestration_per_million(pace).values()), 3)
            cron["lambda_scaling_bound_s"] = bound
            cron["ended_over_bound"] = round(cron["run_ended_s"] / bound, 3)
            sfn = simulate_distributed_map(s, lim, st)
            sfn["cost_per_1m_jobs_usd"] = round(distributed_map_cost_per_million(), 3)
            single = simulate_single_publisher(s, m, lim, st)
            single["cost_per_1m_jobs_usd"] = round(single_publisher_cost_per_million(m), 3)
            by_scenario[f"{jobs}@{concurrency}"] = {
                "jobs": jobs,
                "concurrency": concurrency,
                "cronbridge": cron,
                "step_functions_distributed_map": sfn,
                "single_publisher": single,
            }
    return {
        "sources": SOURCES,
        "limits": asdict(lim),
        "measured": asdict(m),
        "setup": asdict(st),
        "by_scenario": by_scenario,
        "command": COMMAND,
    }


def measured_from(path: Path) -> Measured:
    """The figures a `make bench` run wrote to results.json."""
    data = json.loads(path.read_text())
    calls = data["aws_calls"]
    return replace(
        Measured(),
        write_units_per_job=calls["write_units_per_job"],
        hottest_key_write_units_per_job=calls["hottest_key_write_units_per_job"],
        recorder_seconds_per_result=calls["recorder_seconds_per_result"],
        invoke_cpu_us=data["invoke_cpu_us"]["cronbridge"],
        hand_written_invoke_cpu_us=data["invoke_cpu_us"]["boto3"],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--aws-calls", type=Path, help="a results.json to take measured figures from"
    )
    args = parser.parse_args(argv)
    measured = measured_from(args.aws_calls) if args.aws_calls else Measured()
    json.dump(model(measured), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
