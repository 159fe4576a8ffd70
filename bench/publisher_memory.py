"""Peak memory of one publisher process streaming a whole job list: 10k, 100k and 1M
jobs, from the S3 registry (on a moto server) and from the local registry.

The process runs the real publisher code (`run_publisher_unit`) over every unit of the
run's tree, one after another, and hands every envelope to a sink that counts and
drops it; its ledger is SQLite. It is a fresh process per figure, so its peak RSS
(VmHWM) is the publisher's own.

    python -m bench.publisher_memory
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

COMMAND = "python -m bench.publisher_memory"
SIZES = (10_000, 100_000, 1_000_000)


class _CountingSink:
    def __init__(self) -> None:
        self.sent = 0

    def send(self, envelopes: Sequence[dict[str, Any]], time_left: object = None) -> int:
        self.sent += len(envelopes)
        return len(envelopes)


class _Inline:
    """Runs child units in this process, one after another, instead of invoking them."""

    def __init__(self) -> None:
        self.pending: list[Any] = []

    def invoke_publishers(self, units: Sequence[Any], delay: float = 0.0) -> None:
        self.pending.extend(units)


def publish_all(source: str, home: Path, group: str) -> dict[str, Any]:
    """In the measured process: trigger the group and publish every job of its run."""
    from bridge.domain.deadlines import Timing
    from bridge.domain.triggers import TriggerEvent
    from bridge.local.ledger import SqliteLedger
    from bridge.ports import SystemClock
    from bridge.usecases.dispatch import handle_trigger
    from publishers.publish import run_publisher_unit

    registry = _registry(source, home)
    ledger = SqliteLedger(home / "ledger.sqlite3")
    clock = SystemClock()
    inline, sink = _Inline(), _CountingSink()
    event = TriggerEvent("b", f"triggers/{group}", b"", clock.now(), sequencer="01")
    handle_trigger(
        event, registry=registry, ledger=ledger, publishers=inline, clock=clock, timing=Timing()
    )
    units = 0
    while inline.pending:
        unit = inline.pending.pop()
        run_publisher_unit(
            unit,
            registry=registry,
            ledger=ledger,
            publishers=inline,
            sinks=lambda m: sink,
            clock=clock,
        )
        units += 1
    ledger.close()
    return {"jobs_sent": sink.sent, "units": units, "peak_rss_mb": round(_peak_kb() / 1024, 1)}


def _peak_kb() -> int:
    """This process's peak RSS. On Linux ru_maxrss carries the parent's peak across
    fork and exec, so read VmHWM, which belongs to this program's own memory map."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _registry(source: str, home: Path) -> Any:
    if source == "local":
        from bridge.local.registry import FileRegistry

        return FileRegistry(home / "state")
    import boto3

    from bridge.aws.registry import S3Registry

    return S3Registry(boto3.client("s3"), "bench-state")


def _register(source: str, home: Path, jobs: int, listing: Path) -> str:
    from bridge.domain.controls import Controls
    from bridge.ports import SystemClock
    from bridge.usecases.register import ListSource, register_group

    group = f"g{jobs}"
    register_group(
        group,
        "python:bench.workers:noop",
        [ListSource.from_path("all", listing)],
        Controls(),
        registry=_registry(source, home),
        clock=SystemClock(),
        check_target=lambda target, controls: None,
    )
    return group


def _write_list(path: Path, jobs: int) -> None:
    with path.open("w") as handle:
        for i in range(jobs):
            handle.write(f'{{"id": "job-{i:07d}", "payload": {{"n": {i}, "region": "eu"}}}}\n')


@contextlib.contextmanager
def moto_environment() -> Iterator[dict[str, str]]:
    """A moto server on a free loopback port, and os.environ pointing boto3 at it while
    inside (restored after); yields that environment, for child processes."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)
        moto.stop()


def measure() -> dict[str, Any]:
    results: dict[str, Any] = {"local": {}, "s3": {}}
    with moto_environment() as env:
        import boto3

        boto3.client("s3").create_bucket(Bucket="bench-state")
        with tempfile.TemporaryDirectory() as tmp:
            for jobs in SIZES:
                listing = Path(tmp) / f"{jobs}.jsonl"
                _write_list(listing, jobs)
                for source in ("local", "s3"):
                    home = Path(tmp) / f"{source}-{jobs}"
                    home.mkdir()
                    group = _register(source, home, jobs, listing)
                    done = subprocess.run(  # noqa: S603 - this interpreter, this module
                        [
                            sys.executable,
                            "-m",
                            "bench.publisher_memory",
                            "--child",
                            source,
                            str(home),
                            group,
                        ],
                        env=env,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    figures = json.loads(done.stdout)
                    if figures["jobs_sent"] != jobs:
                        raise RuntimeError(f"sent {figures['jobs_sent']} of {jobs} jobs")
                    results[source][str(jobs)] = figures
                listing.unlink()
    return {
        "publisher_peak_rss_mb": {
            size: max(results[source][size]["peak_rss_mb"] for source in results)
            for size in map(str, SIZES)
        },
        "by_source": results,
        "command": COMMAND,
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        json.dump(publish_all(sys.argv[2], Path(sys.argv[3]), sys.argv[4]), sys.stdout)
    else:
        json.dump(measure(), sys.stdout, indent=2)
        print()
