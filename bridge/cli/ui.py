"""`cronbridge ui`: the web console (bridge.ui) on this machine, until Ctrl-C."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bridge.cli.app import app, backend, backend_name, err_console, home, out
from bridge.cli.serving import (
    UI_PORT,
    HostOption,
    PortOption,
    check_host,
    check_port,
    listen_error,
    stop_on_signals,
)

__all__ = ["ui"]


@app.command()
def ui(
    host: HostOption = "127.0.0.1",
    port: PortOption = UI_PORT,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow a --host other than loopback: the console is then reachable from the "
            "network, guarded only by its token over plain HTTP.",
        ),
    ] = False,
) -> None:
    """Serve the web console: groups, runs, jobs; redrive, cancel and resume.

    Prints the URL to open (it holds this start's token); works with --backend aws too,
    reading the deployment with your credentials."""
    check_port(port, option="--port", default=UI_PORT)
    remote = check_host(
        host,
        allow_remote=allow_remote,
        what="the console",
        guard="its token is then all that guards it, and plain HTTP carries the token in the clear",
    )
    backend()  # a backend that cannot be opened at all (no AWS settings) is said now
    from bridge.ui.server import start_console  # starlette and uvicorn: only when asked for

    try:
        console = start_console(backend_name(), home(), host=host, port=port)
    except OSError as exc:
        raise listen_error(host, port, exc) from None
    stop = stop_on_signals()
    if remote:
        err_console.print(
            f"warning: the console on {console.url} is reachable from the network; only its "
            "token guards it, and plain HTTP carries the token in the clear",
            markup=False,
        )
    out.print(f"console: {console.login_url}", markup=False)
    sys.stdout.flush()
    try:
        stop.wait()
    finally:
        console.stop()
