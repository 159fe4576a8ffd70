"""The sweeper Lambda: every minute (a schedule invokes it), end what is overdue.

For each running run past its deadline it sends the jobs without a result once more,
or, past the second deadline, records them as `lost` and ends the run (see
bridge.usecases.sweep). It reports `OverdueRuns` and `LostJobs` as CloudWatch metrics
(embedded in its log, so no extra permission is needed); the module alarms on them.
Two sweeps at once (a schedule may fire twice) are safe: a resend's leaves skip parts
already sent in that round, and a job recorded lost twice is one job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.aws.runtime import AwsRuntime
from bridge.lambdas._shared import container_runtime, log_decision, log_metrics
from bridge.usecases.sweep import sweep_runs

__all__ = ["handler", "make_handler"]


def make_handler(get_runtime: Callable[[], AwsRuntime]) -> Callable[[Any, Any], dict[str, Any]]:
    def sweep(event: Any, context: Any) -> dict[str, Any]:
        runtime = get_runtime()
        actions = sweep_runs(
            registry=runtime.registry,
            ledger=runtime.ledger,
            publishers=runtime.publishers,
            clock=runtime.clock,
            timing=runtime.settings.timing,
        )
        for action in actions:
            log_decision("overdue run " + action.action, run=action.run_id, jobs=action.jobs)
        lost = sum(a.jobs for a in actions if a.action == "lost")
        log_metrics(runtime.settings.ledger_table, OverdueRuns=len(actions), LostJobs=lost)
        return {"overdue": len(actions), "lost": lost}

    return sweep


handler = make_handler(container_runtime)
