"""The publisher Lambda: one publisher unit per invocation (DESIGN.md §1).

A unit over several parts starts its children; a leaf streams its part and invokes
one worker per job, and hands the rest to a continuation of itself when the Lambda
deadline comes near. A paced run's lanes come back through the pacing queue (an SQS
event source: a batch of units, each due now) for their next few jobs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from bridge.aws.runtime import AwsRuntime
from bridge.domain.plan import PublisherUnit
from bridge.lambdas._shared import container_runtime, log_decision
from publishers.publish import run_publisher_unit

__all__ = ["handler", "make_handler"]

_log = logging.getLogger("cronbridge.lambda")


def make_handler(get_runtime: Callable[[], AwsRuntime]) -> Callable[[Any, Any], dict[str, Any]]:
    def publish(event: Any, context: Any) -> dict[str, Any]:
        if _is_sqs_batch(event):
            return _paced_wakes(event, context)
        return _run(PublisherUnit.from_dict(event), context)

    def _paced_wakes(event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Lanes of paced runs, each due now, from the pacing queue's event source: a
        lane that fails comes back alone (batchItemFailures), the others go on."""
        failures = []
        for record in event["Records"]:
            try:
                _run(PublisherUnit.from_dict(json.loads(record["body"])), context)
            except Exception:  # noqa: BLE001 - its message comes back for the next try
                _log.exception("paced lane failed", extra={"message_id": record.get("messageId")})
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def _run(unit: PublisherUnit, context: Any) -> dict[str, Any]:
        runtime = get_runtime()
        time_left = getattr(context, "get_remaining_time_in_millis", None)
        outcome = run_publisher_unit(
            unit,
            registry=runtime.registry,
            ledger=runtime.ledger,
            publishers=runtime.publishers,
            sinks=runtime.sink_for,
            clock=runtime.clock,
            time_left=(lambda: time_left() / 1000) if callable(time_left) else None,
        )
        log_decision(
            "part " + outcome.action,
            run=unit.run_id,
            list=unit.list_name,
            parts=[unit.first_part, unit.end_part],
            children=outcome.children,
            jobs=outcome.jobs,
            reason=outcome.reason,
        )
        return {"action": outcome.action, "jobs": outcome.jobs, "children": outcome.children}

    return publish


def _is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return isinstance(records, list) and all(
        isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records
    )


handler = make_handler(container_runtime)
