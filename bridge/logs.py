"""Logging: quiet as a library, one JSON line per decision when a runtime turns it on.

Modules log to children of the `cronbridge` logger with structured `extra` fields;
nothing is printed unless `cronbridge serve` (or `CRONBRIDGE_DEBUG=1`) configures
a handler. No secret is ever passed to a logger.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "configure_logging"]

logging.getLogger("cronbridge").addHandler(logging.NullHandler())

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        return json.dumps(line, default=str)


def configure_logging(level: int | None = None) -> None:
    """Send cronbridge's decisions to stderr as JSON lines."""
    if level is None:
        level = logging.DEBUG if os.environ.get("CRONBRIDGE_DEBUG") else logging.INFO
    logger = logging.getLogger("cronbridge")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    # Lambda's runtime puts a handler of its own on the root logger: there, ours is the
    # only one, or every line would reach CloudWatch twice.
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        logger.propagate = False
