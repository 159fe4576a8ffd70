"""`cronbridge serve | demo | trigger | curl`: the local runtime and firing triggers."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bridge.cli.app import app, backend, err_console, home, out, print_json, require_group
from bridge.cli.progress import summary_line
from bridge.cli.runs import TimeoutOption, finish_watch, parse_timeout
from bridge.cli.serving import (
    DEMO_GROUP,
    SERVE_UI_PORT,
    HostOption,
    PortOption,
    check_port,
    check_serve_options,
    listen_error,
    log_thread_errors,
    run_demo,
    start_serve_console,
    stop_on_signals,
    unfinished_line,
)
from bridge.domain.runs import RunState
from bridge.domain.triggers import parse_time
from bridge.exceptions import (
    InvalidInput,
)
from bridge.local.home import DEFAULT_BUCKET, DEFAULT_PORT, Endpoint, Home, HomeLock
from bridge.local.ledger import SqliteLedger
from bridge.local.registry import FileRegistry
from bridge.local.runtime import LocalRuntime
from bridge.local.server import TriggerServer
from bridge.logs import configure_logging
from triggers.request import build_trigger_request, render_curl

__all__ = ["curl", "demo", "serve", "trigger"]


@app.command()
def serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = DEFAULT_PORT,
    bucket: Annotated[str, typer.Option(help="Bucket name in the trigger path.")] = DEFAULT_BUCKET,
    workers: Annotated[int, typer.Option(help="Threads that run jobs (1 or more).")] = 16,
    sweep_every: Annotated[
        float, typer.Option(help="Seconds between looks for runs past their deadline.")
    ] = 5.0,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow a --host other than loopback: the endpoint is then reachable from "
            "the network, guarded only by the User-Agent secret.",
        ),
    ] = False,
    ui_port: Annotated[
        int,
        typer.Option(
            help="Port of the web console on 127.0.0.1 (as `cronbridge ui`); 0 picks a free one."
        ),
    ] = SERVE_UI_PORT,
    no_ui: Annotated[bool, typer.Option("--no-ui", help="Start no web console.")] = False,
) -> None:
    """Run the whole pipeline on this machine until Ctrl-C, with its web console."""
    remote = check_serve_options(host, port, workers, sweep_every, allow_remote=allow_remote)
    check_port(ui_port, option="--ui-port", default=SERVE_UI_PORT)
    the_home = home()
    lock = the_home.lock_runtime("serve")  # one runtime per home
    try:
        _serve(
            the_home,
            lock,
            host,
            port,
            bucket,
            workers,
            sweep_every,
            remote=remote,
            ui_port=None if no_ui else ui_port,
        )
    finally:
        lock.release()


def _serve(
    the_home: Home,
    lock: HomeLock,
    host: str,
    port: int,
    bucket: str,
    workers: int,
    sweep_every: float,
    *,
    remote: bool,
    ui_port: int | None,
) -> None:
    configure_logging()
    log_thread_errors()
    runtime = LocalRuntime(the_home, workers=workers)
    try:
        server = TriggerServer(
            runtime, secret=the_home.secret(), bucket=bucket, host=host, port=port
        )
    except OSError as exc:
        runtime.close()
        raise listen_error(host, port, exc) from None
    endpoint = Endpoint(url=server.url, bucket=bucket)
    the_home.save_endpoint(endpoint)
    lock.announce(server.url)  # after the endpoint file: a demo then finds it current
    stop = stop_on_signals()
    server.start()
    if remote:
        err_console.print(
            f"warning: the trigger endpoint on {server.url} is reachable from the network; "
            "only the User-Agent secret guards it, and plain HTTP carries it in the clear",
            markup=False,
        )
    for resumed in runtime.resume():
        out.print(f"resuming run {resumed.run_id} ({resumed.how})", markup=False)
    runtime.start_sweeper(sweep_every)
    out.print(f"Listening on {server.url}", markup=False)
    out.print(f"home      {the_home.root}", markup=False)
    out.print(f"secret    {the_home.secret()}  (the User-Agent a trigger must send)", markup=False)
    out.print(f"trigger   PUT {endpoint.trigger_url('<group>')}", markup=False)
    out.print("curl      `cronbridge curl GROUP` prints the command that fires GROUP", markup=False)
    console = None if ui_port is None else start_serve_console(the_home, ui_port, warn=err_console)
    if console is not None:
        runtime.console_url = console.url  # what alerts link to
        out.print(f"console: {console.login_url}", markup=False)
    sys.stdout.flush()  # whoever reads our output through a pipe learns the port now
    try:
        stop.wait()
        out.print("stopping (Ctrl-C again to stop at once)", markup=False)
        sys.stdout.flush()
    finally:
        if console is not None:
            console.stop()
        server.stop()
        unfinished = runtime.stop()
        runtime.close()
        rejected = ", ".join(f"{code} {n}" for code, n in sorted(server.rejected.items()))
        out.print(f"stopped; requests rejected: {rejected or 'none'}", markup=False)
        out.print(unfinished_line(unfinished), markup=False)


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
    timeout: TimeoutOption = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print JSON for scripts (with --wait: the finished run)."),
    ] = False,
) -> None:
    """Fire GROUP now: PUT triggers/GROUP to the local endpoint or the trigger bucket."""
    limit = parse_timeout(timeout, wait)
    where = backend()
    when = None if scheduled_time is None else parse_time(scheduled_time, "--scheduled-time")
    reply = where.send(group, when, note, signed=signed)
    if as_json and not wait:
        print_json({"run": reply.run_id, "decision": reply.decision, "reason": reply.reason})
        return
    if as_json:
        finish_watch(where, reply.run_id, timeout=limit, final={"decision": reply.decision})
        return
    tail = f" ({reply.reason})" if reply.reason else ""
    out.print(f"run {reply.run_id}: {reply.decision}{tail}", markup=False)
    if wait:
        finish_watch(where, reply.run_id, timeout=limit)


@app.command()
def curl(
    group: str,
    scheduled_time: Annotated[
        str | None, typer.Option(help="Add a scheduled_time to the body.")
    ] = None,
) -> None:
    """Print the curl command(s) that fire GROUP.

    With the User-Agent secret (locally with -i, so the answer's x-cronbridge-run header
    shows the run's id), and on AWS also signed with your credentials (--aws-sigv4)."""
    when = None if scheduled_time is None else parse_time(scheduled_time, "--scheduled-time")
    if backend().name == "local":  # on AWS, printing the command needs no credentials
        require_group(group)
    for command in backend().curl_commands(group, when):
        typer.echo(command)


@app.command()
def demo(
    jobs_per_list: Annotated[int, typer.Option(help="Jobs in each of the two lists.")] = 500,
) -> None:
    """Start the runtime, register a 2-list group, fire it over HTTP and watch it finish.
    If a `cronbridge serve` is using this home, the demo runs through it instead."""
    if jobs_per_list < 1:
        raise InvalidInput("--jobs-per-list must be 1 or more")
    the_home = home()
    holder = the_home.holder()
    if holder is not None and holder.command == "serve" and holder.url:
        out.print(
            f"{the_home.root} is in use by {holder.describe()}: the demo runs through it",
            markup=False,
        )
        ledger = SqliteLedger(the_home.ledger_path)
        try:
            run = run_demo(
                the_home,
                registry=FileRegistry(the_home.state_dir),
                ledger=ledger,
                bucket_url=the_home.endpoint().bucket_url,
                jobs_per_list=jobs_per_list,
                console=out,
            )
        finally:
            ledger.close()
        again_url = the_home.endpoint().bucket_url
    else:
        lock = the_home.lock_runtime("demo")  # a serve or demo that started just now: refused
        try:
            runtime = LocalRuntime(the_home)
            server = TriggerServer(runtime, secret=the_home.secret(), bucket=DEFAULT_BUCKET, port=0)
            lock.announce(server.url)
            server.start()
            try:
                out.print(f"local runtime on {server.url} (home {the_home.root})", markup=False)
                run = run_demo(
                    the_home,
                    registry=runtime.registry,
                    ledger=runtime.ledger,
                    bucket_url=Endpoint(url=server.url, bucket=DEFAULT_BUCKET).bucket_url,
                    jobs_per_list=jobs_per_list,
                    console=out,
                )
            finally:
                server.stop()
                runtime.close()
        finally:
            lock.release()
        again_url = the_home.endpoint().bucket_url
    out.print(summary_line(run), markup=False)
    again = render_curl(
        build_trigger_request(again_url, DEMO_GROUP, user_agent=the_home.secret(), source="curl")
    )
    if holder is None:
        out.print(
            "fire it again: start `cronbridge serve` in another terminal, then run", markup=False
        )
    else:
        out.print("fire it again:", markup=False)
    out.print(f"  {again}", markup=False, soft_wrap=True)
    if run.state is not RunState.SUCCEEDED:
        raise typer.Exit(1)
