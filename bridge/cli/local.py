"""`cronbridge serve | demo | trigger | curl`: the local runtime and firing triggers."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from bridge.cli.app import app, backend, home, out, print_json
from bridge.cli.backend import send_local
from bridge.cli.progress import summary_line, watch_run
from bridge.cli.runs import finish_watch
from bridge.domain.controls import Controls, Overlap
from bridge.domain.runs import RunState
from bridge.domain.triggers import parse_time
from bridge.exceptions import (
    InvalidInput,
    Unavailable,
)
from bridge.local.home import DEFAULT_BUCKET, DEFAULT_PORT, Endpoint, Home
from bridge.local.runtime import LocalRuntime
from bridge.local.server import TriggerServer
from bridge.logs import configure_logging
from bridge.usecases.register import ListSource
from triggers.request import build_trigger_request, render_curl

__all__ = ["curl", "demo", "serve", "trigger"]

DEMO_GROUP = "demo"
DEMO_TARGET = "python:publishers.examples:checksum"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port to listen on; 0 picks a free one.")
    ] = DEFAULT_PORT,
    bucket: Annotated[str, typer.Option(help="Bucket name in the trigger path.")] = DEFAULT_BUCKET,
    workers: Annotated[int, typer.Option(help="Threads that run jobs.")] = 16,
    sweep_every: Annotated[
        float, typer.Option(help="Seconds between looks for runs past their deadline.")
    ] = 5.0,
) -> None:
    """Run the whole pipeline on this machine until Ctrl-C."""
    the_home = home()
    configure_logging()
    runtime = LocalRuntime(the_home, workers=workers)
    try:
        server = TriggerServer(
            runtime, secret=the_home.secret(), bucket=bucket, host=host, port=port
        )
    except OSError as exc:
        runtime.close()
        raise Unavailable(
            f"cannot listen on {host}:{port}: {exc.strerror}", hint="pick another --port"
        ) from None
    endpoint = Endpoint(url=server.url, bucket=bucket)
    the_home.save_endpoint(endpoint)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    for resumed in runtime.resume():
        out.print(f"resuming run {resumed.run_id} ({resumed.how})", markup=False)
    runtime.start_sweeper(sweep_every)
    out.print(f"Listening on {server.url}", markup=False)
    out.print(f"home      {the_home.root}", markup=False)
    out.print(f"secret    {the_home.secret()}  (the User-Agent a trigger must send)", markup=False)
    out.print(f"trigger   PUT {endpoint.trigger_url('<group>')}", markup=False)
    out.print("curl      `cronbridge curl GROUP` prints the command that fires GROUP", markup=False)
    sys.stdout.flush()  # whoever reads our output through a pipe learns the port now
    try:
        stop.wait()
    finally:
        server.stop()
        runtime.close()
        rejected = ", ".join(f"{code} {n}" for code, n in sorted(server.rejected.items()))
        out.print(f"stopped; requests rejected: {rejected or 'none'}", markup=False)


@app.command()
def trigger(
    group: str,
    scheduled_time: Annotated[
        str | None,
        typer.Option(help="The slot this trigger stands for, RFC 3339 (one run per slot)."),
    ] = None,
    note: Annotated[str, typer.Option(help="A note kept with the run.")] = "",
    signed: Annotated[
        bool, typer.Option("--signed", help="AWS: sign the PUT with your credentials (SigV4).")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Watch the run until it ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Fire GROUP now: PUT triggers/GROUP to the local endpoint or the trigger bucket."""
    where = backend()
    when = None if scheduled_time is None else parse_time(scheduled_time, "--scheduled-time")
    reply = where.send(group, when, note, signed=signed)
    if as_json and not wait:
        print_json({"run": reply.run_id, "decision": reply.decision, "reason": reply.reason})
        return
    tail = f" ({reply.reason})" if reply.reason else ""
    out.print(f"run {reply.run_id}: {reply.decision}{tail}", markup=False)
    if wait:
        finish_watch(where.ledger, reply.run_id)


@app.command()
def curl(
    group: str,
    scheduled_time: Annotated[
        str | None, typer.Option(help="Add a scheduled_time to the body.")
    ] = None,
) -> None:
    """Print the curl command(s) that fire GROUP: with the User-Agent secret, and on AWS
    also signed with your credentials (--aws-sigv4)."""
    when = None if scheduled_time is None else parse_time(scheduled_time, "--scheduled-time")
    for command in backend().curl_commands(group, when):
        typer.echo(command)


@app.command()
def demo(
    jobs_per_list: Annotated[int, typer.Option(help="Jobs in each of the two lists.")] = 500,
) -> None:
    """Start the runtime, register a 2-list group, fire it over HTTP and watch it finish."""
    if jobs_per_list < 1:
        raise InvalidInput("--jobs-per-list must be 1 or more")
    the_home = home()
    secret = the_home.secret()
    runtime = LocalRuntime(the_home)
    server = TriggerServer(runtime, secret=secret, bucket=DEFAULT_BUCKET, port=0)
    server.start()
    try:
        out.print(f"local runtime on {server.url} (home {the_home.root})", markup=False)
        sources = [_demo_list(the_home, name, jobs_per_list) for name in ("alpha", "beta")]
        manifest = runtime.register(
            DEMO_GROUP, DEMO_TARGET, sources, Controls(overlap=Overlap.ALLOW)
        )
        out.print(
            f"registered group {manifest.group} v{manifest.version}: "
            f"{manifest.total_jobs:,} jobs in {len(manifest.lists)} lists -> {manifest.target}",
            markup=False,
        )
        endpoint = Endpoint(url=server.url, bucket=DEFAULT_BUCKET)
        request = build_trigger_request(
            endpoint.bucket_url, DEMO_GROUP, user_agent=secret, source="demo"
        )
        reply = send_local(request)
        out.print(f"fired PUT {request.url} -> run {reply.run_id} {reply.decision}", markup=False)
        run = watch_run(runtime.ledger, reply.run_id, out)
    finally:
        server.stop()
        runtime.close()
    out.print(summary_line(run), markup=False)
    again = render_curl(
        build_trigger_request(
            the_home.endpoint().bucket_url, DEMO_GROUP, user_agent=secret, source="curl"
        )
    )
    out.print("fire it again: start `cronbridge serve` in another terminal, then run", markup=False)
    out.print(f"  {again}", markup=False, soft_wrap=True)
    if run.state is not RunState.SUCCEEDED:
        raise typer.Exit(1)


def _demo_list(the_home: Home, name: str, count: int) -> ListSource:
    path: Path = the_home.root / "demo" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for index in range(count):
            handle.write(json.dumps({"id": f"{name}-{index:05d}", "payload": {"n": index}}) + "\n")
    return ListSource.from_path(name, path)
