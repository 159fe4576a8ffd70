"""The `cronbridge` command: the root app, shared options, and how errors are shown."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from bridge.cli.backend import Backend, open_backend
from bridge.exceptions import CronbridgeError, InvalidJobList
from bridge.local.home import Home

__all__ = ["app", "backend", "err_console", "home", "out", "print_json", "run_app"]

app = typer.Typer(
    name="cronbridge",
    help="Fire thousands of jobs from one HTTP request, on this machine or on AWS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
_selected: dict[str, str | None] = {"backend": None}
_open: list[Backend] = []


@app.callback()
def _options(
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            help="local (this machine, the default) or aws (a deployment; or set CRONBRIDGE_BACKEND).",
        ),
    ] = None,
) -> None:
    _selected["backend"] = backend


def backend() -> Backend:
    """The backend this command acts on, opened once per command."""
    if not _open:
        _open.append(open_backend(_selected["backend"], home()))
    return _open[0]


out = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def home() -> Home:
    return Home.from_env()


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def close_backend() -> None:
    while _open:
        _open.pop().close()
    _selected["backend"] = None


def show_error(error: CronbridgeError) -> None:
    err_console.print(f"[bold red]error:[/] {error.message}", markup=True, soft_wrap=True)
    if isinstance(error, InvalidJobList):
        for problem in error.problems:
            err_console.print(f"  {problem}", markup=False, soft_wrap=True)
    if error.hint:
        err_console.print(f"[dim]hint:[/] {error.hint}", markup=True, soft_wrap=True)


def run_app(argv: list[str] | None = None) -> int:
    """Run the CLI; user mistakes end with one message and exit code 2, never a traceback."""
    try:
        code = app(args=argv, prog_name="cronbridge", standalone_mode=False)
        close_backend()
    except CronbridgeError as error:
        close_backend()
        show_error(error)
        return error.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except typer.TyperException as exc:  # usage errors: unknown option, bad value
        show = getattr(exc, "show", None)
        if callable(show):
            show(file=sys.stderr)
        return int(getattr(exc, "exit_code", 2))
    return code if isinstance(code, int) else 0
