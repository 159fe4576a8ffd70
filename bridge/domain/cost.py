"""What a group costs a month on AWS: cronbridge, and the same work on Step Functions.

Counts come from the group's own shape (jobs, lists, parts, the publisher tree); prices
from one dated table. Worker compute is the same for every approach and shown apart,
so the comparison is of what orchestration costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bridge.domain.groups import GroupManifest
from bridge.domain.plan import PublisherUnit, lanes, pace, root_units, split_unit

__all__ = [
    "PRICES",
    "PRICES_AS_OF",
    "CostEstimate",
    "Line",
    "WorkerProfile",
    "estimate",
    "orchestration_per_million",
    "receives_per_result",
]

DAYS_PER_MONTH = 30.4

#: us-east-1 list prices in USD, before free tiers, from the AWS pricing pages.
PRICES_AS_OF = "2025-06"
PRICES: dict[str, float] = {
    # https://aws.amazon.com/lambda/pricing/
    "lambda_request": 0.20 / 1_000_000,
    "lambda_gb_second_arm64": 0.0000133334,
    # https://aws.amazon.com/s3/pricing/ (S3 Standard)
    "s3_put": 0.005 / 1_000,
    "s3_get": 0.0004 / 1_000,
    # https://aws.amazon.com/sqs/pricing/ (standard queue; each 64 KB of a request is one)
    "sqs_request": 0.40 / 1_000_000,
    # https://aws.amazon.com/dynamodb/pricing/on-demand/ (after the 2024-11 reduction)
    "dynamodb_write_unit": 0.625 / 1_000_000,
    "dynamodb_read_unit": 0.125 / 1_000_000,
    # https://aws.amazon.com/step-functions/pricing/
    "sfn_state_transition": 0.025 / 1_000,
    "sfn_express_request": 1.00 / 1_000_000,
    "sfn_express_gb_second": 0.00001667,
}

# What each piece of cronbridge does, per run and per job. Per-job figures are counts of
# the requests the AWS APIs received in the sandbox (`python -m bench.aws_calls`, 4,000
# jobs; see bench/RESULTS.md); durations are this repository's own estimates.
DISPATCHER = {"seconds": 0.3, "memory_gb": 0.25, "s3_gets": 3, "writes": 8, "reads": 3}
PUBLISHER = {"seconds": 0.2, "memory_gb": 1.0, "s3_gets": 2, "writes": 2, "reads": 13}
#: one async invoke on the publisher's lean path (bench/invoke_cpu.py measured 0.66 ms)
PUBLISHER_SECONDS_PER_JOB = 0.0007
#: the recorder's share per result: parsing its record, writing its chunk (bench/aws_calls.py)
RECORDER_SECONDS_PER_RESULT = 0.0003
RECORDER_MEMORY_GB = 0.5
#: write units per job for results, progress and run items (bench/aws_calls.py measured
#: 0.11 with a worker answering about 40 bytes; a larger answer adds its size in KB)
WRITE_UNITS_PER_JOB = 0.12
#: an upper bound on read units per job: recounts read every chunk, publishers the run
READ_UNITS_PER_JOB = 0.07
#: results the event source mapping hands the recorder at once at a busy queue's pace
RESULTS_PER_RECORDER_BATCH = 1000
#: The results queue's requests per result: one SendMessage (the worker's destination),
#: a DeleteMessageBatch per 10, and ReceiveMessage calls by the event source mapping's
#: pollers: each returns the messages waiting, up to 10
#: (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html).
#: Five pollers to start with (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html),
#: each receive about 20 ms apart (our estimate): at a few thousand results a second a
#: receive carries 10; at 100 a second about 1 (the sandbox measured 0.79 there).
SQS_POLLERS = 5
SQS_RECEIVE_SECONDS = 0.02
#: the sweeper runs once a minute for the whole deployment, whatever its groups
SWEEPS_PER_MONTH = 60 * 24 * DAYS_PER_MONTH
SWEEPER = {"seconds": 0.1, "memory_gb": 0.5}
#: The two event source mappings (results, pacing) poll their queues even when empty:
#: five pollers each, in 20-second long polls (our estimate of Lambda's pollers; the
#: requests are billed like any others).
IDLE_RECEIVES_PER_MONTH = 2 * SQS_POLLERS * 86400 * DAYS_PER_MONTH / 20
# The Distributed Map's child workflows: Express, one item each, 64 MB minimum billing
# in 100 ms steps; each runs a Task state that invokes the worker.
EXPRESS_CHILD_SECONDS = 0.1
EXPRESS_CHILD_GB = 0.064
STANDARD_TRANSITIONS_PER_JOB = 2  # the iteration's Task state and its end
STANDARD_TRANSITIONS_PER_RUN = 4  # start, Map state, end
#: what a new account may run at once (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)
ACCOUNT_CONCURRENCY = 1000


def receives_per_result(results_per_second: float) -> float:
    """ReceiveMessage calls per result at this pace of results."""
    waiting = results_per_second * SQS_RECEIVE_SECONDS / SQS_POLLERS
    return 1 / min(10.0, max(1.0, waiting))


@dataclass(frozen=True)
class WorkerProfile:
    seconds: float = 0.1
    memory_gb: float = 0.128


@dataclass(frozen=True)
class Line:
    what: str
    count: float  # per month
    usd: float


@dataclass
class CostEstimate:
    group: str
    runs_per_month: float
    jobs_per_run: int
    publishers_per_run: int
    approaches: dict[str, list[Line]] = field(default_factory=dict)

    def total(self, approach: str) -> float:
        return sum(line.usd for line in self.approaches[approach])


def publisher_units(manifest: GroupManifest) -> int:
    """How many publisher invocations one run makes: every node of every list's tree,
    or, for a paced run, every wake of its lanes (each a few jobs, a pace apart)."""
    lane_pace = pace(manifest)
    if lane_pace is not None:
        return math.ceil(manifest.total_jobs / lane_pace.jobs) + len(lanes(manifest)) - 1
    pending: list[PublisherUnit] = list(root_units("cost", manifest, ""))
    count = 0
    while pending:
        unit = pending.pop()
        count += 1
        pending.extend(split_unit(unit))
    return count


def estimate(
    manifest: GroupManifest, runs_per_day: float, worker: WorkerProfile | None = None
) -> CostEstimate:
    worker = worker or WorkerProfile()
    runs = runs_per_day * DAYS_PER_MONTH
    jobs = manifest.total_jobs
    units = publisher_units(manifest)
    parts = sum(len(job_list.parts) for job_list in manifest.lists)
    p = PRICES
    out = CostEstimate(manifest.group, runs, jobs, units)

    def line(what: str, per_run: float, price: float) -> Line:
        return Line(what, per_run * runs, per_run * runs * price)

    worker_gbs = jobs * worker.seconds * worker.memory_gb
    rate_now = results_per_second(manifest, worker)
    sqs_per_result = 1 + 0.1 + receives_per_result(rate_now)
    paced_wakes = units if pace(manifest) is not None else 0
    batches = math.ceil(jobs / RESULTS_PER_RECORDER_BATCH)
    workers = [
        line("worker invocations", jobs, p["lambda_request"]),
        line("worker GB-seconds", worker_gbs, p["lambda_gb_second_arm64"]),
    ]
    publisher_gbs = (units * PUBLISHER["seconds"] + jobs * PUBLISHER_SECONDS_PER_JOB) * PUBLISHER[
        "memory_gb"
    ]
    out.approaches["cronbridge"] = [
        line("trigger PUT (S3)", 1, p["s3_put"]),
        line(
            "S3 reads: trigger, manifests, parts",
            DISPATCHER["s3_gets"] + units * PUBLISHER["s3_gets"] + parts,
            p["s3_get"],
        ),
        line(
            "Lambda requests: dispatcher, publishers, recorder",
            1 + units + batches,
            p["lambda_request"],
        ),
        line(
            "Lambda GB-seconds: dispatcher, publishers, recorder",
            DISPATCHER["seconds"] * DISPATCHER["memory_gb"]
            + publisher_gbs
            + jobs * RECORDER_SECONDS_PER_RESULT * RECORDER_MEMORY_GB,
            p["lambda_gb_second_arm64"],
        ),
        line(
            f"SQS requests: results queue (at ~{rate_now:,.0f} results/s)",
            jobs * sqs_per_result,
            p["sqs_request"],
        ),
        line(
            "SQS requests: a paced run's lanes waiting between wakes (send, receive, delete)",
            3 * paced_wakes,
            p["sqs_request"],
        ),
        line(
            "DynamoDB writes: run, parts, result chunks",
            DISPATCHER["writes"] + units * PUBLISHER["writes"] + jobs * WRITE_UNITS_PER_JOB,
            p["dynamodb_write_unit"],
        ),
        line(
            "DynamoDB reads",
            DISPATCHER["reads"] + units * PUBLISHER["reads"] / 10 + jobs * READ_UNITS_PER_JOB,
            p["dynamodb_read_unit"],
        ),
        Line(
            "sweeper, once a minute (the deployment's, not the group's)",
            SWEEPS_PER_MONTH,
            SWEEPS_PER_MONTH
            * (
                p["lambda_request"]
                + SWEEPER["seconds"] * SWEEPER["memory_gb"] * p["lambda_gb_second_arm64"]
            ),
        ),
        Line(
            "the queues' pollers while idle (the deployment's, not the group's)",
            IDLE_RECEIVES_PER_MONTH,
            IDLE_RECEIVES_PER_MONTH * p["sqs_request"],
        ),
        *workers,
    ]
    out.approaches["step-functions-standard"] = [
        line(
            "state transitions",
            STANDARD_TRANSITIONS_PER_RUN + jobs * STANDARD_TRANSITIONS_PER_JOB,
            p["sfn_state_transition"],
        ),
        *workers,
    ]
    express_gbs = jobs * max(EXPRESS_CHILD_SECONDS, _billed(worker.seconds)) * EXPRESS_CHILD_GB
    out.approaches["step-functions-distributed-map"] = [
        line("parent state transitions", STANDARD_TRANSITIONS_PER_RUN, p["sfn_state_transition"]),
        line("child executions (Express)", jobs, p["sfn_express_request"]),
        line("child GB-seconds (Express)", express_gbs, p["sfn_express_gb_second"]),
        line("reading the item list (S3)", 1, p["s3_get"]),
        *workers,
    ]
    return out


def results_per_second(manifest: GroupManifest, worker: WorkerProfile) -> float:
    """How fast a run's results come: its jobs at the account's concurrency, or its rate."""
    running = min(manifest.total_jobs, ACCOUNT_CONCURRENCY)
    pace = running / max(worker.seconds, 0.001)
    rate = manifest.controls.max_rate
    return min(pace, rate) if rate else pace


def orchestration_per_million(results_per_second: float) -> dict[str, float]:
    """cronbridge's cost of orchestrating 1M jobs (everything but the workers), by what."""
    p = PRICES
    jobs = 1_000_000
    units = jobs / 1000 * 1.111  # leaves and the tree above them
    return {
        "lambda requests": (1 + units + jobs / RESULTS_PER_RECORDER_BATCH) * p["lambda_request"],
        "lambda duration": (
            units * PUBLISHER["seconds"] * PUBLISHER["memory_gb"]
            + jobs * PUBLISHER_SECONDS_PER_JOB * PUBLISHER["memory_gb"]
            + jobs * RECORDER_SECONDS_PER_RESULT * RECORDER_MEMORY_GB
        )
        * p["lambda_gb_second_arm64"],
        "sqs": jobs * (1.1 + receives_per_result(results_per_second)) * p["sqs_request"],
        "dynamodb writes": jobs * WRITE_UNITS_PER_JOB * p["dynamodb_write_unit"],
        "dynamodb reads": jobs * READ_UNITS_PER_JOB * p["dynamodb_read_unit"],
        "s3": (units * PUBLISHER["s3_gets"] + 1000) * p["s3_get"],
    }


def _billed(seconds: float) -> float:
    """Express workflows bill duration in 100 ms steps."""
    return math.ceil(seconds * 10) / 10
