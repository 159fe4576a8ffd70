"""What every handler shares: one runtime per container, one JSON log line per decision,
and CloudWatch metrics in the embedded metric format (a log line CloudWatch reads)."""

from __future__ import annotations

import logging
import time
from typing import Any

from bridge.aws.runtime import AwsRuntime, AwsSettings
from bridge.logs import configure_logging

__all__ = ["METRICS_NAMESPACE", "container_runtime", "log_decision", "log_metrics"]

METRICS_NAMESPACE = "cronbridge"

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


def log_metrics(table: str, **values: int) -> None:
    """One embedded-metric-format log line (`_aws` at its top level): CloudWatch turns
    it into metrics of the `cronbridge` namespace, per ledger table (so deployments in one
    account keep apart), with no PutMetricData call (and no permission for one)."""
    line: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [["LedgerTable"]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in values],
                }
            ],
        },
        "LedgerTable": table,
        **values,
    }
    _log.info("metrics", extra=line)
