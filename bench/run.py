"""`make bench`: run every benchmark, keep the figures in bench/results.json (stable keys,
so runs can be compared over time) and write bench/RESULTS.md with a plot.

    python -m bench.run
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    aws_calls,
    console_pages,
    invoke_cpu,
    local_runtime,
    model,
    publisher_memory,
    register_memory,
    sweeper_calls,
)
from bridge.domain.controls import Controls
from bridge.domain.cost import PRICES_AS_OF, estimate
from bridge.domain.groups import GroupManifest, ListManifest, plan_parts

HERE = Path(__file__).parent
RESULTS = HERE / "results.json"
REPORT = HERE / "RESULTS.md"
PLOT = HERE / "model.png"


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def run() -> dict[str, Any]:
    started = time.monotonic()
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
    }
    print("invoke CPU ...", file=sys.stderr, flush=True)
    invokes = invoke_cpu.measure()
    results["invoke_cpu_us"] = invokes["invoke_cpu_us"]
    results["invoke"] = invokes
    print("publisher memory ...", file=sys.stderr, flush=True)
    memory = publisher_memory.measure()
    results["publisher_peak_rss_mb"] = memory["publisher_peak_rss_mb"]
    results["publisher_memory"] = memory
    print("registration memory ...", file=sys.stderr, flush=True)
    registration = register_memory.measure()
    results["register_peak_rss_mb"] = registration["register_peak_rss_mb"]
    results["register_memory"] = registration
    print("local runtime ...", file=sys.stderr, flush=True)
    results["local"] = local_runtime.measure()
    print("console pages ...", file=sys.stderr, flush=True)
    results["console"] = console_pages.measure()
    print("AWS calls per job (sandbox, 4,000 jobs) ...", file=sys.stderr, flush=True)
    results["aws_calls"] = aws_calls.measure()
    print("sweeper's slot check per group (moto, 200 groups) ...", file=sys.stderr, flush=True)
    results["sweeper_calls"] = sweeper_calls.measure()
    print("cloud model ...", file=sys.stderr, flush=True)
    calls = results["aws_calls"]
    measured = model.Measured(
        write_units_per_job=calls["write_units_per_job"],
        hottest_key_write_units_per_job=calls["hottest_key_write_units_per_job"],
        recorder_seconds_per_result=calls["recorder_seconds_per_result"],
        invoke_cpu_us=invokes["invoke_cpu_us"]["cronbridge"],
        hand_written_invoke_cpu_us=invokes["invoke_cpu_us"]["boto3"],
    )
    modelled = model.model(measured)
    results["model"] = modelled["by_scenario"]  # {"jobs@concurrency": {approach: figures}}
    results["model_inputs"] = {key: modelled[key] for key in ("limits", "measured", "setup")}
    results["model_command"] = modelled["command"]
    results["monthly_usd_one_run_a_day"] = monthly_costs()
    results["seconds"] = round(time.monotonic() - started, 1)
    return results


def monthly_costs() -> dict[str, dict[str, float]]:
    """Each approach's month at one run a day, for the model's job counts."""
    out = {}
    for jobs in model.SIZES:
        manifest = GroupManifest(
            group="bench",
            version=1,
            target="lambda:worker",
            controls=Controls(),
            lists=(ListManifest("all", plan_parts(jobs)),),
            created_at="2026-11-22T00:00:00.000Z",
        )
        result = estimate(manifest, runs_per_day=1)
        out[str(jobs)] = {name: round(result.total(name), 2) for name in result.approaches}
    return out


def plot(results: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, concurrency in zip(axes, model.CONCURRENCIES, strict=True):
        for approach in model.APPROACHES:
            ax.plot(
                model.SIZES,
                [
                    results["model"][f"{n}@{concurrency}"][approach]["run_ended_s"]
                    for n in model.SIZES
                ],
                marker="o",
                label=approach.replace("_", " "),
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("jobs of 1 s")
        ax.set_title(f"trigger to run ended, concurrency {concurrency:,}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds (model)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(PLOT, dpi=100)


def aws_calls_section(calls: dict[str, Any]) -> list[str]:
    targets = calls["targets"]
    cost = calls["cost_per_1m_jobs_usd"]
    return [
        "## What a run costs the AWS APIs, per job",
        "",
        f"`{calls['command']}`: one run of {calls['jobs']:,} jobs through the sandbox, every "
        "request moto received counted (moto's request recorder), Lambda invocations counted "
        f"by the emulator. {calls['results_per_s']} results a second here.",
        "",
        "| requests per job | |",
        "|---|---:|",
        *[f"| {op} | {n} |" for op, n in calls["requests_per_job"].items()],
        *[
            f"| lambda {name} invocations | {n} |"
            for name, n in calls["lambda_invocations_per_job"].items()
        ],
        "",
        "| DynamoDB write units per job | measured | target |",
        "|---|---:|---:|",
        f"| all keys | **{calls['write_units_per_job']}** | ≤ {targets['write_units_per_job']} |",
        f"| the hottest key ({calls['hottest_key']}) | **{calls['hottest_key_write_units_per_job']}** "
        f"| ≤ {targets['hottest_key_write_units_per_job']} |",
        *[f"| {item} | {n} | |" for item, n in calls["write_units_per_job_by_item"].items()],
        "",
        f"Orchestration per 1M jobs at these counts and list prices: **${cost['total']}** "
        f"(SQS ${cost['sqs']}, DynamoDB ${cost['dynamodb writes'] + cost['dynamodb reads']:.4f}, "
        f"Lambda ${cost['lambda requests'] + cost['lambda duration']:.4f}, S3 ${cost['s3']}). "
        "At this pace the results queue's pollers receive about one record per request; "
        "at thousands of results a second a receive carries ten, which the model below "
        "prices.",
        "",
    ]


def sweeper_section(sweeper: dict[str, Any]) -> list[str]:
    sweeps = sweeper["sweeps"]
    cost = sweeper["monthly_usd"]
    alerts = sweeper.get("idle_deliver_alerts")
    shown = {
        "steady": "steady (no slot due)",
        "triggered_slot": "an hourly slot passed, triggered",
        "missed_slot": "an hourly slot passed, missed",
    }

    def requests(figures: dict[str, Any]) -> str:
        return ", ".join(f"{n:g} {op}" for op, n in figures["requests"].items()) or "none"

    return [
        "## The sweeper's check of missed slots, per group",
        "",
        f"`{sweeper['command']}`: `check_slots` over {sweeper['groups']:,} groups "
        f"({sweeper['scheduled_groups']:,} with the schedule `{sweeper['schedule']}`, the "
        "others none) in an S3 registry and a DynamoDB ledger on moto, every request moto "
        "received counted (moto's request recorder) and given to the group its key names. "
        "Seconds are moto's on this machine (its DynamoDB one request at a time, and a "
        "table copy per transaction item), not AWS's.",
        "",
        "| sweep | per scheduled group | DynamoDB WCU / RCU | per group without a schedule "
        "| per sweep | s (moto) |",
        "|---|---|---:|---|---|---:|",
        *[
            f"| {label} | {requests(sweeps[name]['scheduled'])} "
            f"| {sweeps[name]['scheduled']['dynamodb_write_units']:g} / "
            f"{sweeps[name]['scheduled']['dynamodb_read_units']:g} "
            f"| {requests(sweeps[name]['unscheduled'])} | {requests(sweeps[name]['shared'])} "
            f"| {sweeps[name]['moto_seconds']} |"
            for name, label in shown.items()
        ],
        "",
        *(
            []
            if alerts is None
            else [
                f"An idle `deliver_alerts` (nothing pending): {requests(alerts)}, "
                f"{alerts['dynamodb_read_units']:g} RCU, {alerts['moto_seconds']} s.",
                "",
            ]
        ),
        f"{cost['groups']:,} hourly groups checked {cost['checks']:,} times a month at list "
        f"prices ({cost['prices_as_of']}): **${cost['total']}** a month ("
        + ", ".join(f"{item} ${usd:g}" for item, usd in cost["by_item"].items())
        + f"); as many groups without a schedule, ${cost['unscheduled_groups_total']}. "
        f"Each check reads a group's `current.json` "
        f"{sweeps['steady']['scheduled']['s3_objects_read'].get('current.json', 0):g} time(s); "
        "a version's manifest is read once by a warm sweeper (versions never change).",
        "",
    ]


def register_section(memory: dict[str, Any]) -> list[str]:
    local, s3 = memory["by_source"]["local"], memory["by_source"]["s3"]
    return [
        "## Registration memory",
        "",
        f"`{memory['command']}`: one process re-registering a group with a list of N jobs "
        "(`register_group`, the use case `groups register` runs); peak RSS, and the RSS "
        "before registering (imports) in brackets:",
        "",
        "| jobs | local registry (MB) | s | S3 registry on moto (MB) | s |",
        "|---:|---:|---:|---:|---:|",
        *[
            f"| {int(size):,} | {local[size]['peak_rss_mb']} ({local[size]['base_rss_mb']}) "
            f"| {local[size]['seconds']} | {s3[size]['peak_rss_mb']} ({s3[size]['base_rss_mb']}) "
            f"| {s3[size]['seconds']} |"
            for size in local
        ],
        "",
        "What grows with the jobs is the table of job ids (64-bit hashes and where each was "
        "first seen, 16 bytes a slot, at most half full: `bridge/domain/job_ids.py`).",
        "",
    ]


def console_section(console: dict[str, Any]) -> list[str]:
    return [
        "## Console pages",
        "",
        f"`{console['command']}`: the web console's pages over loopback HTTP, for a group of "
        f"{console['group_runs']:,} runs and a run of {console['big_run_jobs']:,} jobs (2% "
        "failed) that the local runtime ran; the first load (nothing of the page cached), "
        f"then the median and slowest of {console['samples']} more, in ms:",
        "",
        "| page | first | p50 | max | KB |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| `{page['path']}` | {page['ms_first']} | {page['ms_p50']} | {page['ms_max']} "
            f"| {page['kb']} |"
            for page in console["pages"]
        ],
        "",
        "A run page's first load reads and decodes every result once (the ledger's "
        "`stored_results`); the console keeps that pass while the run's counters stay the "
        "same, so its live refreshes and later pages are cheap. A job's page reads every "
        "result on each load.",
        "",
    ]


def report(results: dict[str, Any]) -> str:
    local = results["local"]
    invoke = results["invoke"]
    memory = results["publisher_memory"]
    lines = [
        "# Benchmark results",
        "",
        f"Made by `make bench` ({results['seconds']} s) on {results['when']}, commit {results['commit']}, "
        f"Python {results['machine']['python']}, {results['machine']['cpus']} CPUs. "
        "The raw figures are in `results.json`.",
        "",
        "## CPU per asynchronous invoke",
        "",
        f"`{invoke['command']}`, {invoke['invokes']:,} invokes each, against a loopback stub of the Invoke API:",
        "",
        "| path | CPU per invoke (µs) | times raw | invokes/s |",
        "|---|---:|---:|---:|",
        *[
            f"| {name} | {invoke['invoke_cpu_us'][name]} | {invoke['ratio_to_raw'][name]} | {invoke['invokes_per_s'][name]:,} |"
            for name in ("raw", "boto3", "cronbridge")
        ],
        "",
        "raw: an unsigned POST on a kept-alive connection (the floor). boto3: `client.invoke`, one "
        "thread. cronbridge: the publisher's path, `AsyncInvoker` with 32 threads over "
        "`EventInvokeClient` (botocore's credentials and SigV4 signer, a kept-alive "
        "connection per thread).",
        "",
        "## Publisher memory",
        "",
        f"`{memory['command']}`: peak RSS of one process publishing a whole list through the tree:",
        "",
        "| jobs | local registry (MB) | S3 registry on moto (MB) |",
        "|---:|---:|---:|",
        *[
            f"| {int(size):,} | {memory['by_source']['local'][size]['peak_rss_mb']} | {memory['by_source']['s3'][size]['peak_rss_mb']} |"
            for size in memory["by_source"]["local"]
        ],
        "",
        *register_section(results["register_memory"]),
        "## Local runtime, end to end over HTTP",
        "",
        f"`{local['command']}`: {local['jobs']:,} no-op jobs at **{local['jobs_per_s']:,} jobs/s**; "
        f"trigger PUT to first job started over {local['samples']} triggers: "
        f"p50 **{local['first_job_ms_p50']} ms**, p99 **{local['first_job_ms_p99']} ms**.",
        "",
        *console_section(results["console"]),
        *aws_calls_section(results["aws_calls"]),
        *sweeper_section(results["sweeper_calls"]),
        "## Cloud-scale model",
        "",
        f"`{results['model_command']}`: virtual time, with every published limit that binds "
        "(each with its source in `bench/model.py`) and the counts measured above. Jobs of "
        "1 s; cost is orchestration per 1M jobs, everything but the worker itself.",
        "",
        "| jobs | concurrency | approach | all dispatched (s) | all recorded (s) | run ended (s) "
        "| results/s a run can record | $ per 1M jobs |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for figures in results["model"].values():
        for approach in model.APPROACHES:
            f = figures[approach]
            lines.append(
                f"| {figures['jobs']:,} | {figures['concurrency']:,} | {approach.replace('_', ' ')} "
                f"| {f['all_dispatched_s']:,} | {f['all_recorded_s']:,} | {f['run_ended_s']:,} "
                f"| {f['results_per_s_ceiling']:,} | {f['cost_per_1m_jobs_usd']} |"
            )
    big = results["model"]["1000000@10000"]["cronbridge"]
    lines += [
        "",
        "The limits it applies, and where each is published:",
        "",
        *[f"- {limit}: {url}" for limit, url in model.SOURCES.items()],
        "",
        f"1M jobs at 10,000 concurrency: cronbridge's run ends at {big['run_ended_s']} s, "
        f"{big['ended_over_bound']}x the {big['lambda_scaling_bound_s']} s that Lambda's scaling "
        "alone allows (every job invoked at once, every result recorded at once).",
        "",
        "![model](model.png)",
        "",
        "## Monthly cost, one run a day",
        "",
        "From `bridge/domain/cost.py` (what `cronbridge cost` prints; list prices of "
        f"{PRICES_AS_OF}, 100 ms 128 MB workers, one list):",
        "",
        "| jobs | cronbridge | Step Functions Standard | Distributed Map (Express children) |",
        "|---:|---:|---:|---:|",
        *[
            f"| {int(jobs):,} | ${costs['cronbridge']} | ${costs['step-functions-standard']} | ${costs['step-functions-distributed-map']} |"
            for jobs, costs in results["monthly_usd_one_run_a_day"].items()
        ],
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    results = run()
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    plot(results)
    REPORT.write_text(report(results))
    print(REPORT.read_text())


if __name__ == "__main__":
    main()
