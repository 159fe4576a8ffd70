"""The classes every command and group of `cronbridge` is built with.

Help names values as GROUP, NAME=FILE or INTEGER, where Typer would print `{group}` or
`<list[str]>`; a list of commands shows each one's first sentence and never cuts it
with "..."; and a mistake raised without a hint of its own points at the help of the
command it was made in. `plain_help` hands these classes to every command of an app,
so a command added anywhere behaves the same without asking for it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandInfo, DefaultPlaceholder, TyperInfo

from bridge.exceptions import CronbridgeError, GroupNotFound, RunNotFound

if TYPE_CHECKING:  # Typer 0.29 carries its own copy of Click
    from typer._click import Command as ClickCommand
    from typer._click import Context, HelpFormatter

__all__ = ["HELP_OPTIONS", "Command", "Group", "plain_help"]

#: `-h` as well as `--help`; child contexts inherit the names from the root's.
HELP_OPTIONS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}

#: what a value of each Python type is called in help, as Click names them
_TYPE_NAMES = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT", "Path": "PATH"}
_LIST = re.compile(r"list\[(.*)\]")
#: where to look when a missing thing was named
_NOT_FOUND_HINTS: dict[type[CronbridgeError], str] = {
    GroupNotFound: "see `cronbridge groups list`",
    RunNotFound: "see `cronbridge runs list`",
}


def _value_name(param: TyperArgument | TyperOption, ctx: Context) -> str:
    """What the help calls the value a parameter takes: its metavar, else its type."""
    if param.metavar:
        return param.metavar
    if isinstance(param, TyperArgument):
        return (param.name or "value").upper()
    display_type = getattr(param, "display_type", None)  # how Typer 0.29 names a type
    if display_type is None:
        return (param.name or "value").upper()
    label = str(display_type(ctx)).strip("<>")
    listed = _LIST.fullmatch(label)
    if listed:
        label = listed.group(1)
    if "|" in label:  # choices: show them all
        return f"[{label}]"
    base = label.split(" ")[0]  # "int range" is still an int
    return _TYPE_NAMES.get(base, base.upper())


def _usage_pieces(command: ClickCommand, ctx: Context) -> list[str]:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if not isinstance(param, TyperArgument):
            continue
        name = _value_name(param, ctx)
        if param.nargs != 1:
            name += "..."
        pieces.append(name if param.required else f"[{name}]")
    return pieces


def _format_params(command: ClickCommand, ctx: Context, formatter: HelpFormatter) -> None:
    arguments: list[tuple[str, str]] = []
    options: list[tuple[str, str]] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        help_text = record[1]
        if isinstance(param, TyperArgument):
            arguments.append((_value_name(param, ctx), help_text))
        elif isinstance(param, TyperOption):
            short_first = sorted(param.opts, key=lambda opt: opt.startswith("--"))
            names = ", ".join(short_first) + "".join(f" / {o}" for o in param.secondary_opts)
            if not param.is_flag and not param.count:
                names += f" {_value_name(param, ctx)}"
            options.append((names, help_text))
        else:  # a plain Click option, such as the help option
            options.append(record)
    if arguments:
        with formatter.section("Arguments"):
            formatter.write_dl(arguments)
    if options:
        with formatter.section("Options"):
            formatter.write_dl(options)


class Command(TyperCommand):
    """A command whose help names values plainly, and whose mistakes all carry a hint."""

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return _usage_pieces(self, ctx)

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        _format_params(self, ctx, formatter)

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except CronbridgeError as error:
            if error.hint is None and error.exit_code == 2:
                error.hint = next(
                    (hint for kind, hint in _NOT_FOUND_HINTS.items() if isinstance(error, kind)),
                    f"see `{ctx.command_path} --help`",
                )
            raise


class Group(TyperGroup):
    """A group whose list of commands shows each one's first sentence, never cut."""

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        _format_params(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                # A limit no sentence reaches: the first sentence whole, wrapped if need be.
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def plain_help(app: typer.Typer) -> None:
    """Build every command and group of `app`, and of its sub-apps, with these classes,
    unless one asked for a class of its own."""
    for info in app.registered_commands:
        _command_class(info)
    for group in app.registered_groups:
        _group_class(group)
        if group.typer_instance is not None:
            plain_help(group.typer_instance)


def _command_class(info: CommandInfo) -> None:
    if info.cls is None or info.cls is TyperCommand:  # Typer's default: none of its own
        info.cls = Command


def _group_class(info: TyperInfo) -> None:
    own = info.typer_instance.info.cls if info.typer_instance is not None else None
    if isinstance(info.cls, DefaultPlaceholder) and (
        own is None or isinstance(own, DefaultPlaceholder)
    ):
        info.cls = Group
