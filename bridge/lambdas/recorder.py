"""The recorder Lambda: the worker functions' async-invocation destination.

Lambda delivers a destination record (success or `RetriesExhausted`) as the event;
the job's result is counted exactly once, however often it arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.aws.runtime import AwsRuntime
from bridge.exceptions import InvalidInput
from bridge.lambdas._shared import container_runtime, log_decision
from bridge.usecases.record import record_destination

__all__ = ["handler", "make_handler"]


def make_handler(get_runtime: Callable[[], AwsRuntime]) -> Callable[[Any, Any], dict[str, Any]]:
    def record(event: Any, context: Any) -> dict[str, Any]:
        try:
            result, counted = record_destination(event, ledger=get_runtime().ledger)
        except InvalidInput as exc:
            # Retrying a record that cannot be read would not make it readable.
            log_decision("record rejected", reason=exc.message)
            return {"counted": False}
        log_decision(
            "result recorded" if counted else "duplicate result ignored",
            run=result.ref.run_id,
            job=result.ref.job_id,
            status=result.status.value,
            tries=result.tries,
        )
        return {"counted": counted}

    return record


handler = make_handler(container_runtime)
