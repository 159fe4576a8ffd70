"""The publisher Lambda: one publisher unit per invocation (DESIGN.md §1).

A unit over several parts starts its children; a leaf streams its part and invokes
one worker per job, paced, and hands the rest to a continuation of itself when the
Lambda deadline comes near.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.aws.runtime import AwsRuntime
from bridge.domain.plan import PublisherUnit
from bridge.lambdas._shared import container_runtime, log_decision
from publishers.publish import run_publisher_unit

__all__ = ["handler", "make_handler"]


def make_handler(get_runtime: Callable[[], AwsRuntime]) -> Callable[[Any, Any], dict[str, Any]]:
    def publish(event: Any, context: Any) -> dict[str, Any]:
        runtime = get_runtime()
        unit = PublisherUnit.from_dict(event)
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


handler = make_handler(container_runtime)
