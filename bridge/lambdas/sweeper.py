"""The sweeper Lambda: every minute (a schedule invokes it), end what is overdue,
record the slots no trigger came for, and deliver the alerts due.

For each running run past its deadline it sends the jobs without a result once more,
or, past the second deadline, records them as `lost` and ends the run (see
bridge.usecases.sweep). Then it records a `missed` run for each slot of a scheduled
group that passed its slot tolerance with no trigger (bridge.usecases.slots), and
delivers the run events alerts want (bridge.usecases.alerts). It reports `OverdueRuns`,
`LostJobs`, `MissedSlots`, `AlertsSent` and `AlertsGivenUp` as CloudWatch metrics
(embedded in its log, so no extra permission is needed); the module alarms on all but
`AlertsSent`. Each step runs even if one before it failed. Two sweeps at once (a
schedule may fire twice) are safe: a resend's leaves skip parts already sent in that
round, a job recorded lost twice is one job, a slot's missed run is written only where
there is none, and an alert sent twice carries the same delivery id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bridge.aws.runtime import AwsRuntime
from bridge.lambdas._shared import container_runtime, log_decision, log_metrics
from bridge.usecases.alerts import DeliveryReport, deliver_alerts
from bridge.usecases.slots import SlotCheck, check_slots
from bridge.usecases.sweep import SweepAction, sweep_runs

__all__ = ["handler", "make_handler"]

log = logging.getLogger("cronbridge.sweeper")


def make_handler(get_runtime: Callable[[], AwsRuntime]) -> Callable[[Any, Any], dict[str, Any]]:
    def sweep(event: Any, context: Any) -> dict[str, Any]:
        runtime = get_runtime()
        errors: list[Exception] = []
        actions: list[SweepAction] = []
        checks: list[SlotCheck] = []
        try:
            actions = sweep_runs(
                registry=runtime.registry,
                ledger=runtime.ledger,
                publishers=runtime.publishers,
                clock=runtime.clock,
                timing=runtime.settings.timing,
            )
        except Exception as exc:  # the slots and the alerts are still worth doing
            log.exception("sweep of overdue runs failed")
            errors.append(exc)
        for action in actions:
            log_decision("overdue run " + action.action, run=action.run_id, jobs=action.jobs)
        try:
            checks = check_slots(
                registry=runtime.registry, ledger=runtime.ledger, clock=runtime.clock
            )
        except Exception as exc:
            log.exception("check of missed slots failed")
            errors.append(exc)
        report = DeliveryReport()
        try:
            report = deliver_alerts(
                registry=runtime.registry,
                ledger=runtime.ledger,
                clock=runtime.clock,
                console_url=runtime.settings.console_url,
                senders=runtime.alert_senders,
                time_left=_time_left(context),
            )
        except Exception as exc:
            log.exception("delivery of alerts failed")
            errors.append(exc)
        lost = sum(a.jobs for a in actions if a.action == "lost")
        missed = sum(len(c.missed) for c in checks)
        log_metrics(
            runtime.settings.ledger_table,
            OverdueRuns=len(actions),
            LostJobs=lost,
            MissedSlots=missed,
            AlertsSent=report.sent,
            AlertsGivenUp=report.given_up,
        )
        if errors:
            raise errors[0]  # counted as the function's error; the next minute tries again
        return {"overdue": len(actions), "lost": lost, "missed": missed, "alerts": report.sent}

    return sweep


def _time_left(context: Any) -> Callable[[], float] | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return None if remaining is None else lambda: remaining() / 1000


handler = make_handler(container_runtime)
