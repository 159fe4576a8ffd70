"""Peak memory and time of one registration of 100k and 1M jobs, into the local registry
and into the S3 registry (on a moto server).

Each figure is a fresh process that imports what registration needs, notes its RSS
(`base_rss_mb`), then runs the real use case (`register_group`) over one list file and
reports its peak RSS (VmHWM) and the seconds it took. Peak minus base is what the
registration itself held. The list is re-registered over an existing version, as in
the issue that asked for this (a group's lists replaced by bigger ones).

    python -m bench.register_memory
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.publisher_memory import _peak_kb, _registry, _write_list, moto_environment

COMMAND = "python -m bench.register_memory"
SIZES = (100_000, 1_000_000)
GROUP = "g"


def register_once(source: str, home: Path, listing: Path) -> dict[str, Any]:
    """In the measured process: register the list once more as a new version of GROUP."""
    from bridge.domain.controls import Controls
    from bridge.ports import SystemClock
    from bridge.usecases.register import ListSource, register_group

    registry = _registry(source, home)
    base_kb = _rss_kb()
    started = time.perf_counter()
    manifest = register_group(
        GROUP,
        "python:bench.workers:noop",
        [ListSource.from_path("all", listing)],
        Controls(),
        registry=registry,
        clock=SystemClock(),
        check_target=lambda target, controls: None,
    )
    return {
        "jobs": manifest.total_jobs,
        "version": manifest.version,
        "seconds": round(time.perf_counter() - started, 2),
        "base_rss_mb": round(base_kb / 1024, 1),
        "peak_rss_mb": round(_peak_kb() / 1024, 1),
    }


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _child(source: str, home: Path, listing: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "bench.register_memory", "--child", source, str(home), str(listing)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def measure() -> dict[str, Any]:
    results: dict[str, Any] = {"local": {}, "s3": {}}
    with moto_environment() as env:
        import boto3

        s3 = boto3.client("s3")
        with tempfile.TemporaryDirectory() as tmp:
            for jobs in SIZES:
                listing = Path(tmp) / f"{jobs}.jsonl"
                _write_list(listing, jobs)
                for source in ("local", "s3"):
                    home = Path(tmp) / f"{source}-{jobs}"
                    home.mkdir()
                    if source == "s3":
                        s3.create_bucket(Bucket="bench-state")
                    _child(source, home, listing, env)  # v1: the group exists
                    figures = _child(source, home, listing, env)  # v2: measured
                    if figures["jobs"] != jobs:
                        raise RuntimeError(f"registered {figures['jobs']} of {jobs} jobs")
                    figures["list_mb"] = round(listing.stat().st_size / 1e6, 1)
                    results[source][str(jobs)] = figures
                    if source == "s3":
                        _empty_bucket(s3, "bench-state")
                listing.unlink()
    return {
        "register_peak_rss_mb": {
            size: max(results[source][size]["peak_rss_mb"] for source in results)
            for size in map(str, SIZES)
        },
        "by_source": results,
        "command": COMMAND,
    }


def _empty_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        json.dump(register_once(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])), sys.stdout)
    else:
        json.dump(measure(), sys.stdout, indent=2)
        print()
