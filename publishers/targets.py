"""Targets: where a group's jobs go (DESIGN.md §7).

`lambda:<name|arn>` and `sqs:<queue-url>` run on AWS; `http:<url>` anywhere;
`python:<module>:<function>` in the local runtime, called like a Lambda handler.
Standard library only: the publisher Lambda imports this module.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bridge.exceptions import InvalidTarget

__all__ = ["KINDS", "Handler", "TargetSpec", "load_python_handler", "parse_target"]

KINDS = ("lambda", "sqs", "http", "python")
Handler = Callable[[Any, Any], Any]
_EXAMPLES = "python:publishers.examples:checksum, http://127.0.0.1:9000/jobs, lambda:my-worker"


@dataclass(frozen=True)
class TargetSpec:
    kind: str
    address: str

    def __str__(self) -> str:
        return self.address if self.kind == "http" else f"{self.kind}:{self.address}"


def parse_target(text: str) -> TargetSpec:
    kind, sep, rest = text.partition(":")
    if not sep or kind not in (*KINDS, "https") or not rest:
        raise InvalidTarget(
            f"target {text!r} is not one of lambda:NAME, sqs:QUEUE_URL, http(s)://URL, "
            "python:MODULE:FUNCTION",
            hint=f"for example {_EXAMPLES}",
        )
    if kind in ("http", "https"):
        url = text
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidTarget(f"target {text!r} is not an http(s) URL with a host")
        return TargetSpec("http", url)
    if kind == "python":
        module, sep, function = rest.partition(":")
        if not sep or not module or not function.isidentifier():
            raise InvalidTarget(
                f"target {text!r} must be python:MODULE:FUNCTION",
                hint="for example python:publishers.examples:checksum",
            )
    return TargetSpec(kind, rest)


def load_python_handler(spec: TargetSpec) -> Handler:
    """Import the handler a `python:` target names; InvalidTarget with the reason if it fails."""
    module_name, _, function_name = spec.address.partition(":")
    # Like `python -m`, look in the working directory first, so a user's own worker
    # module beside their job lists imports without packaging.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import-time failure is the user's to see
        raise InvalidTarget(
            f"cannot import module {module_name!r} for target {spec}: {type(exc).__name__}: {exc}",
            hint="check the module name, and run from the folder that holds it",
        ) from None
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise InvalidTarget(f"module {module_name!r} has no function {function_name!r}")
    return handler  # type: ignore[no-any-return]
