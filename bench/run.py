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

from bench import invoke_cpu, local_runtime, model, publisher_memory
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
    print("local runtime ...", file=sys.stderr, flush=True)
    results["local"] = local_runtime.measure()
    print("cloud model ...", file=sys.stderr, flush=True)
    cloud = model.Cloud(
        invoke_cpu_us=invokes["invoke_cpu_us"]["cronbridge"],
        hand_written_invoke_cpu_us=invokes["invoke_cpu_us"]["boto3"],
    )
    modelled = model.model(cloud)
    results["model"] = modelled["by_jobs"]  # {jobs: {approach: {all_dispatched_s, all_done_s}}}
    results["model_assumptions"] = modelled["assumptions"]
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

    sizes = sorted(int(n) for n in results["model"])
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, metric, title in zip(
        axes,
        ("all_dispatched_s", "all_done_s"),
        ("trigger to all dispatched", "trigger to all done"),
        strict=True,
    ):
        for approach in ("cronbridge_tree", "single_publisher", "step_functions_distributed_map"):
            ax.plot(
                sizes,
                [results["model"][str(n)][approach][metric] for n in sizes],
                marker="o",
                label=approach.replace("_", " "),
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("jobs")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds (model)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(PLOT, dpi=100)


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
        "## Local runtime, end to end over HTTP",
        "",
        f"`{local['command']}`: {local['jobs']:,} no-op jobs at **{local['jobs_per_s']:,} jobs/s**; "
        f"trigger PUT to first job started over {local['samples']} triggers: "
        f"p50 **{local['first_job_ms_p50']} ms**, p99 **{local['first_job_ms_p99']} ms**.",
        "",
        "## Cloud-scale model",
        "",
        f"`{results['model_command']}` (virtual time; assumptions and their sources in `bench/model.py`):",
        "",
        "| jobs | approach | all dispatched (s) | all done (s) |",
        "|---:|---|---:|---:|",
    ]
    for jobs, approaches in results["model"].items():
        for approach, figures in approaches.items():
            lines.append(
                f"| {int(jobs):,} | {approach.replace('_', ' ')} | {figures['all_dispatched_s']} | {figures['all_done_s']} |"
            )
    lines += [
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
