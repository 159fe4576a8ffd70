"""The `cronbridge` command: the root app, shared options, and how errors are shown.

Nothing a user or a worker supplied is ever read as Rich markup: both consoles print
text as it is (`markup=False`), and styled words are built as `rich.text.Text`. A
caller that wants markup asks for it with `markup=True` and escapes what it did not write.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from bridge.cli.backend import Backend, open_backend
from bridge.cli.commands import HELP_OPTIONS, Group, plain_help
from bridge.domain._show import show
from bridge.exceptions import CronbridgeError, GroupNotFound, InvalidInput, InvalidJobList
from bridge.local.home import Home

__all__ = [
    "MAX_PROBLEMS_SHOWN",
    "app",
    "backend",
    "backend_name",
    "err_console",
    "home",
    "lift_backend",
    "out",
    "print_json",
    "require_group",
    "run_app",
    "show_error",
]

#: bad lines of a job list printed at most; the rest are counted
MAX_PROBLEMS_SHOWN = 20
BACKENDS = ("local", "aws")

app = typer.Typer(
    name="cronbridge",
    help="Fire thousands of jobs from one HTTP request, on this machine or on AWS.",
    cls=Group,
    context_settings=HELP_OPTIONS,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
_selected: dict[str, str | None] = {"backend": None}
_open: list[Backend] = []


def _print_version(value: bool) -> None:
    if value:
        try:
            version = importlib.metadata.version("cronbridge")
        except importlib.metadata.PackageNotFoundError:
            version = "(not installed: version unknown)"
        typer.echo(f"cronbridge {version}")
        raise typer.Exit()


@app.callback()
def _options(
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            metavar="[local|aws]",
            help="Where to act: local (this machine, the default) or aws (a deployment; or set"
            " CRONBRIDGE_BACKEND). May also follow the command.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print cronbridge's version and exit.",
        ),
    ] = False,
) -> None:
    if backend is not None and backend not in BACKENDS:
        raise InvalidInput(
            f"--backend must be local or aws, not {show(backend)}",
            hint="leave it out for this machine, or pass --backend aws",
        )
    _selected["backend"] = backend


def backend() -> Backend:
    """The backend this command acts on, opened once per command."""
    if not _open:
        _open.append(open_backend(_selected["backend"], home()))
    return _open[0]


def backend_name() -> str | None:
    """The --backend this command was given (None: CRONBRIDGE_BACKEND, else local)."""
    return _selected["backend"]


out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


def home() -> Home:
    return Home.from_env()


def print_json(data: Any, *, one_line: bool = False) -> None:
    """`data` as strict JSON (one line each with `one_line`, for JSON Lines). JSON has no
    Infinity or NaN: a float that is not finite is written as null."""
    infinity = float("inf")

    def finite(value: Any) -> Any:
        if isinstance(value, float) and not -infinity < value < infinity:  # inf, -inf and nan
            return None
        if isinstance(value, dict):
            return {key: finite(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [finite(item) for item in value]
        return value

    text = json.dumps(
        finite(data),
        indent=None if one_line else 2,
        separators=(",", ":") if one_line else None,
        ensure_ascii=False,
        allow_nan=False,
    )
    typer.echo(text)


def require_group(name: str) -> None:
    """A group someone registered, or a clear mistake: never an empty answer for a typo."""
    if name not in backend().registry.list_groups():
        raise GroupNotFound(
            f"no group {show(name)} is registered",
            hint="see `cronbridge groups list`, or register it with `cronbridge groups register`",
        )


def close_backend() -> None:
    while _open:
        _open.pop().close()
    _selected["backend"] = None


def show_error(error: CronbridgeError) -> None:
    """The error's message and hint on stderr, each word as it was given."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", error.message))
    if isinstance(error, InvalidJobList):
        for problem in error.problems[:MAX_PROBLEMS_SHOWN]:
            err_console.print(Text(f"  {problem}"))
        more = len(error.problems) - MAX_PROBLEMS_SHOWN
        if more > 0:
            err_console.print(Text(f"  and {more:,} more"))
    if error.hint:
        err_console.print(Text.assemble(("hint:", "dim"), " ", error.hint))


def _show_usage_error(error: UsageError) -> None:
    """Click's usage mistakes in the same shape as ours: one message, one hint."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", error.format_message()))
    command = error.ctx.command_path if error.ctx is not None else "cronbridge"
    err_console.print(Text.assemble(("hint:", "dim"), " ", f"see `{command} --help`"))


def lift_backend(argv: list[str]) -> list[str]:
    """`--backend X` moved before the command, where the root app reads it, so it may
    be written after the command too (`cronbridge runs list g --backend aws`)."""
    lifted: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":  # everything after it is an argument
            rest.extend(argv[index:])
            break
        if word == "--backend":
            if index + 1 == len(argv):
                raise InvalidInput(
                    "--backend needs a value", hint="--backend local, or --backend aws"
                )
            lifted.extend(argv[index : index + 2])
            index += 2
            continue
        (lifted if word.startswith("--backend=") else rest).append(word)
        index += 1
    return lifted + rest


def run_app(argv: list[str] | None = None) -> int:
    """Run the CLI; user mistakes end with one message and exit code 2, never a traceback."""
    plain_help(app)
    try:
        args = lift_backend(sys.argv[1:] if argv is None else list(argv))
        code = app(args=args, prog_name="cronbridge", standalone_mode=False)
    except CronbridgeError as error:
        show_error(error)
        return error.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except NoArgsIsHelpError as exc:  # `cronbridge` alone: the help, as Click shows it
        exc.show(file=sys.stderr)
        return exc.exit_code
    except UsageError as exc:  # unknown option, bad value, missing argument
        _show_usage_error(exc)
        return exc.exit_code
    except typer.TyperException as exc:
        err_console.print(Text.assemble(("error:", "bold red"), " ", exc.format_message()))
        return exc.exit_code
    except SystemExit as exc:  # shell completion answers, then exits
        return exc.code if isinstance(exc.code, int) else 0
    finally:
        close_backend()
    return code if isinstance(code, int) else 0
