"""What `cronbridge serve` and `demo` need beyond the runtime: their options checked,
a failure to listen said plainly, a clean stop on Ctrl-C, and the demo's own steps."""

from __future__ import annotations

import errno
import ipaddress
import json
import logging
import math
import os
import signal
import socket
import threading
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from bridge.cli.backend import send_local
from bridge.cli.progress import watch_run
from bridge.domain.controls import Controls, Overlap
from bridge.domain.runs import Run
from bridge.exceptions import CronbridgeError, InvalidInput, Unavailable
from bridge.local.home import DEFAULT_PORT, Home
from bridge.local.targets import check_local_target
from bridge.ports import Ledger, Registry, SystemClock
from bridge.usecases.register import ListSource, register_group
from triggers.request import build_trigger_request

if TYPE_CHECKING:
    from bridge.ui.server import Console as ConsoleServer

__all__ = [
    "DEMO_GROUP",
    "DEMO_TARGET",
    "SERVE_UI_PORT",
    "UI_PORT",
    "HostOption",
    "PortOption",
    "check_host",
    "check_port",
    "check_serve_options",
    "listen_error",
    "log_thread_errors",
    "run_demo",
    "start_serve_console",
    "stop_on_signals",
    "unfinished_line",
]

log = logging.getLogger("cronbridge.serve")

DEMO_GROUP = "demo"
DEMO_TARGET = "python:publishers.examples:checksum"

#: --host and --port of `serve` and `ui`
HostOption = Annotated[
    str, typer.Option(help="Address to listen on: loopback, unless --allow-remote.")
]
PortOption = Annotated[int, typer.Option(help="Port to listen on, 0-65535; 0 picks a free one.")]

_FREE_PORT_HINT = "pick another --port, or --port 0 for a free one"
#: where `cronbridge ui` serves the web console, and where `serve` hosts one of its own
UI_PORT = 8790
SERVE_UI_PORT = 8788


def check_serve_options(
    host: str, port: int, workers: int, sweep_every: float, *, allow_remote: bool
) -> bool:
    """Refuse options serve cannot run with; whether `host` reaches beyond this machine."""
    check_port(port, option="--port", default=DEFAULT_PORT)
    if workers < 1:
        raise InvalidInput(
            f"--workers must be 1 or more, not {workers}",
            hint="with no thread to run them, no job would ever run; the default is 16",
        )
    if not (math.isfinite(sweep_every) and sweep_every > 0):
        raise InvalidInput(
            f"--sweep-every must be a number of seconds above 0, not {sweep_every:g}",
            hint="the default is 5",
        )
    return check_host(
        host,
        allow_remote=allow_remote,
        what="the trigger endpoint",
        guard="the User-Agent secret is then all that guards it, and plain HTTP carries the "
        "secret in the clear",
    )


def check_port(port: int, *, option: str, default: int, zero: str = "picks a free port") -> None:
    if not 0 <= port <= 65535:
        raise InvalidInput(
            f"{option} must be a port number from 0 to 65535, not {port}",
            hint=f"0 {zero}; the default is {default}",
        )


def check_host(host: str, *, allow_remote: bool, what: str, guard: str) -> bool:
    """Refuse a `host` beyond this machine without --allow-remote; whether it is one.
    `guard` says what alone protects `what` then."""
    remote = not _is_loopback(host)
    if remote and not allow_remote:
        raise InvalidInput(
            f"--host {host or '(all addresses)'} would make {what} reachable from the network",
            hint=f"add --allow-remote if you mean it: {guard}",
        )
    return remote


def _is_loopback(host: str) -> bool:
    if not host:
        return False  # "" binds every address
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise _unresolved(host, exc) from None
    return all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def _unresolved(host: str, exc: Exception) -> InvalidInput:
    reason = getattr(exc, "strerror", None) or str(exc)
    return InvalidInput(
        f"--host {host} cannot be resolved to an address ({reason})",
        hint="give an address or name of this machine, such as 127.0.0.1 (the default)",
    )


def listen_error(host: str, port: int, exc: OSError) -> CronbridgeError:
    """What to tell a user whose serve could not bind `host:port`."""
    if isinstance(exc, socket.gaierror):
        return _unresolved(host, exc)
    if exc.errno == errno.EADDRINUSE:
        return Unavailable(f"port {port} on {host} is already in use", hint=_FREE_PORT_HINT)
    if exc.errno == errno.EACCES:
        return InvalidInput(
            f"this user may not listen on port {port} (ports below 1024 need privileges)",
            hint=_FREE_PORT_HINT,
        )
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return InvalidInput(
            f"cannot listen on --host {host}: it is not an IPv4 address of this machine",
            hint="give one of its addresses, such as 127.0.0.1 (the default)",
        )
    return Unavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def start_serve_console(the_home: Home, port: int, *, warn: Console) -> ConsoleServer | None:
    """The web console on 127.0.0.1:`port`, reading this home's local runtime; None, with
    a warning, if it cannot listen there: serve runs on without it."""
    from bridge.ui.server import start_console  # starlette and uvicorn: only when asked for

    try:
        return start_console("local", the_home, port=port)
    except OSError as exc:
        reason = listen_error("127.0.0.1", port, exc).message
        warn.print(
            f"warning: no web console: {reason}; pick another --ui-port, or --no-ui",
            markup=False,
        )
        return None


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT (Ctrl-C) or SIGTERM: serve then stops cleanly. A second
    signal while it stops ends the process at once (the next serve resumes its runs)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            os.write(2, b"stopping now; the next `cronbridge serve` resumes unfinished runs\n")
            os._exit(130)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop


def log_thread_errors() -> None:
    """An exception that escapes one of the runtime's threads is one log line, not a
    traceback on the terminal."""

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        log.error(
            "thread failed",
            extra={
                "thread": args.thread.name if args.thread else "?",
                "error": f"{args.exc_type.__name__}: {args.exc_value}",
            },
        )

    threading.excepthook = hook


def unfinished_line(runs: Sequence[Run]) -> str:
    if not runs:
        return "no run unfinished"
    shown = ", ".join(run.run_id for run in runs[:5]) + (" ..." if len(runs) > 5 else "")
    them = "them" if len(runs) > 1 else "it"
    return (
        f"{len(runs)} run{'s' if len(runs) > 1 else ''} unfinished ({shown}): "
        f"the next `cronbridge serve` on this home resumes {them}"
    )


def run_demo(
    the_home: Home,
    *,
    registry: Registry,
    ledger: Ledger,
    bucket_url: str,
    jobs_per_list: int,
    console: Console,
) -> Run:
    """Register the 2-list demo group, fire it over HTTP at `bucket_url`, watch it end."""
    sources = [_demo_list(the_home, name, jobs_per_list) for name in ("alpha", "beta")]
    manifest = register_group(
        DEMO_GROUP,
        DEMO_TARGET,
        sources,
        Controls(overlap=Overlap.ALLOW),
        registry=registry,
        clock=SystemClock(),
        check_target=check_local_target,
    )
    console.print(
        f"registered group {manifest.group} v{manifest.version}: "
        f"{manifest.total_jobs:,} jobs in {len(manifest.lists)} lists -> {manifest.target}",
        markup=False,
    )
    request = build_trigger_request(
        bucket_url, DEMO_GROUP, user_agent=the_home.secret(), source="demo"
    )
    reply = send_local(request)
    console.print(f"fired PUT {request.url} -> run {reply.run_id} {reply.decision}", markup=False)
    return watch_run(ledger, reply.run_id, console)


def _demo_list(the_home: Home, name: str, count: int) -> ListSource:
    path = the_home.root / "demo" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for index in range(count):
            handle.write(json.dumps({"id": f"{name}-{index:05d}", "payload": {"n": index}}) + "\n")
    return ListSource.from_path(name, path)
