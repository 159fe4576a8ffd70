"""`cronbridge serve | demo | trigger | curl`: the local runtime and firing triggers."""

from __future__ import annotations

import html
import json
import re
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Annotated

import httpx
import typer

from bridge.cli.app import app, home, out, print_json
from bridge.cli.progress import summary_line, watch_run
from bridge.cli.runs import finish_watch
from bridge.domain.controls import Controls, Overlap
from bridge.domain.runs import RunState
from bridge.domain.triggers import parse_time
from bridge.exceptions import (
    CronbridgeError,
    GroupNotFound,
    InvalidInput,
    InvalidTrigger,
    Unavailable,
)
from bridge.local.home import DEFAULT_BUCKET, DEFAULT_PORT, Endpoint, Home
from bridge.local.ledger import SqliteLedger
from bridge.local.runtime import LocalRuntime
from bridge.local.server import TriggerServer
from bridge.logs import configure_logging
from bridge.usecases.register import ListSource
from triggers.request import TriggerRequest, build_trigger_request, render_curl

__all__ = ["send_trigger"]

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
    wait: Annotated[bool, typer.Option("--wait", help="Watch the run until it ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Fire GROUP now, through the running `cronbridge serve`."""
    the_home = home()
    endpoint = the_home.endpoint()
    when = None if scheduled_time is None else parse_time(scheduled_time, "--scheduled-time")
    decision, run_id, reason = send_trigger(_request(endpoint, the_home, group, when, "cli", note))
    if as_json and not wait:
        print_json({"run": run_id, "decision": decision, "reason": reason})
        return
    out.print(f"run {run_id}: {decision}" + (f" ({reason})" if reason else ""), markup=False)
    if wait:
        finish_watch(SqliteLedger(the_home.ledger_path), run_id)


@app.command()
def curl(
    group: str,
    scheduled_time: Annotated[
        str | None, typer.Option(help="Add a scheduled_time to the body.")
    ] = None,
) -> None:
    """Print the curl command that fires GROUP through the local endpoint."""
    the_home = home()
    when = None if scheduled_time is None else parse_time(scheduled_time, "--scheduled-time")
    request = _request(the_home.endpoint(), the_home, group, when, "curl")
    typer.echo(render_curl(request))


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
        decision, run_id, _ = send_trigger(_request(endpoint, the_home, DEMO_GROUP, None, "demo"))
        out.print(
            f"fired PUT {endpoint.trigger_url(DEMO_GROUP)} -> run {run_id} {decision}", markup=False
        )
        run = watch_run(runtime.ledger, run_id, out)
    finally:
        server.stop()
        runtime.close()
    out.print(summary_line(run), markup=False)
    again = render_curl(_request(the_home.endpoint(), the_home, DEMO_GROUP, None, "curl"))
    out.print("fire it again: start `cronbridge serve` in another terminal, then run", markup=False)
    out.print(f"  {again}", markup=False, soft_wrap=True)
    if run.state is not RunState.SUCCEEDED:
        raise typer.Exit(1)


def send_trigger(request: TriggerRequest) -> tuple[str, str, str]:
    """PUT the trigger; the decision, run id and reason the local endpoint answered."""
    try:
        response = httpx.put(
            request.url, content=request.body, headers=request.all_headers(), timeout=30
        )
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"cannot reach the trigger endpoint {request.url.split('/triggers/')[0]}: {exc}",
            hint="start the local runtime with `cronbridge serve`",
        ) from None
    if response.status_code == 200:
        return (
            response.headers.get("x-cronbridge-decision", "accepted"),
            response.headers.get("x-cronbridge-run", ""),
            response.headers.get("x-cronbridge-reason", ""),
        )
    message = _s3_message(response.text) or f"HTTP {response.status_code}"
    if response.status_code == 404:
        raise GroupNotFound(message)
    if response.status_code == 403:
        raise CronbridgeError(
            "the trigger endpoint denied access: the User-Agent secret does not match",
            hint="is `cronbridge serve` using the same CRONBRIDGE_HOME?",
        )
    raise InvalidTrigger(message)


def _s3_message(body: str) -> str:
    match = re.search(r"<Message>(.*?)</Message>", body, re.DOTALL)
    return html.unescape(match.group(1)) if match else ""


def _request(
    endpoint: Endpoint,
    the_home: Home,
    group: str,
    when: datetime | None,
    source: str,
    note: str = "",
) -> TriggerRequest:
    return build_trigger_request(
        endpoint.bucket_url,
        group,
        user_agent=the_home.secret(),
        scheduled_time=when,
        source=source,
        note=note,
    )


def _demo_list(the_home: Home, name: str, count: int) -> ListSource:
    path: Path = the_home.root / "demo" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for index in range(count):
            handle.write(json.dumps({"id": f"{name}-{index:05d}", "payload": {"n": index}}) + "\n")
    return ListSource.from_path(name, path)
