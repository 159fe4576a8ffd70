"""The `cronbridge` command line."""

from __future__ import annotations

import sys

from bridge.cli import aws as aws
from bridge.cli import azure as azure
from bridge.cli import groups as groups
from bridge.cli import local as local
from bridge.cli import runs as runs
from bridge.cli.app import app as app
from bridge.cli.app import run_app

__all__ = ["app", "main"]


def main() -> None:
    sys.exit(run_app())
