"""What every handler shares: one runtime per container, one JSON log line per decision."""

from __future__ import annotations

import logging
from typing import Any

from bridge.aws.runtime import AwsRuntime, AwsSettings
from bridge.logs import configure_logging

__all__ = ["container_runtime", "log_decision"]

configure_logging()
_log = logging.getLogger("cronbridge.lambda")
_runtime: AwsRuntime | None = None


def container_runtime() -> AwsRuntime:
    """Built on the first invocation and kept for the container's life."""
    global _runtime
    if _runtime is None:
        _runtime = AwsRuntime(AwsSettings.from_env())
    return _runtime


def log_decision(event: str, **fields: Any) -> None:
    _log.info(event, extra=fields)
