"""Resume: finish the runs a stopped local runtime left running.

Lambda's queue of asynchronous invocations survives anything; the local runtime's is
in memory. When `cronbridge serve` starts, every run still `running` gets what it
lacks (bridge.usecases.control.resume_run): a run whose publishers never started is
launched, a redrive that never started is redriven, and any other run gets publishers
that send again every job without a result. Workers are at-least-once anyway, and each
result is counted once.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.domain.deadlines import Timing
from bridge.ports import Clock, Ledger, PublisherInvoker, Registry
from bridge.usecases.control import resume_run

__all__ = ["ResumedRun", "resume_runs"]


@dataclass(frozen=True)
class ResumedRun:
    run_id: str
    how: str  # "launched" | "resent" | "finished"


def resume_runs(
    *,
    registry: Registry,
    ledger: Ledger,
    publishers: PublisherInvoker,
    clock: Clock,
    timing: Timing,
) -> list[ResumedRun]:
    resumed = []
    for run in ledger.open_runs():
        outcome = resume_run(
            run.run_id,
            registry=registry,
            ledger=ledger,
            publishers=publishers,
            clock=clock,
            timing=timing,
        )
        resumed.append(ResumedRun(run.run_id, outcome.how))
    return resumed
