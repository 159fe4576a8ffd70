"""The `cronbridge` command line."""

from __future__ import annotations

import sys

# Registration order is the order `cronbridge --help` lists them in.
from bridge.cli import local as local  # isort: skip
from bridge.cli import groups as groups  # isort: skip
from bridge.cli import runs as runs  # isort: skip
from bridge.cli import backfill as backfill  # isort: skip
from bridge.cli import alerts as alerts  # isort: skip
from bridge.cli import ui as ui  # isort: skip
from bridge.cli import cost as cost  # isort: skip
from bridge.cli import aws as aws  # isort: skip
from bridge.cli import azure as azure  # isort: skip
from bridge.cli.app import app as app
from bridge.cli.app import run_app

__all__ = ["app", "main"]


def main() -> None:
    sys.exit(run_app())
