"""Resume: finish the runs a stopped local runtime left running.

Lambda's queue of asynchronous invocations survives anything; the local runtime's is
in memory. When `cronbridge serve` starts, every run still `running` gets what it
lacks: a run whose publishers never started is launched, a redrive that never started
is redriven, and any other run gets publishers that send again every job without a
result. Workers are at-least-once anyway, and each result is counted once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bridge.domain.plan import root_units
from bridge.domain.runs import RunState
from bridge.domain.triggers import format_time
from bridge.ports import Ledger, PublisherInvoker, Registry
from bridge.usecases.dispatch import launch_run
from bridge.usecases.redrive import redrive_run

__all__ = ["ResumedRun", "resume_runs"]

_SCAN = 100_000


@dataclass(frozen=True)
class ResumedRun:
    run_id: str
    how: str  # "launched" | "redriven" | "resent"


def resume_runs(
    *, registry: Registry, ledger: Ledger, publishers: PublisherInvoker
) -> list[ResumedRun]:
    resumed = []
    for run in ledger.list_runs(None, _SCAN):
        if run.state is not RunState.RUNNING:
            continue
        if run.launched < run.attempt:
            if run.attempt == 1:
                launch_run(run, registry, ledger, publishers)
                resumed.append(ResumedRun(run.run_id, "launched"))
            else:
                redrive_run(run.run_id, registry=registry, ledger=ledger, publishers=publishers)
                resumed.append(ResumedRun(run.run_id, "redriven"))
            continue
        manifest = registry.load_manifest(run.group, run.version)
        units = root_units(run.run_id, manifest, format_time(run.slot_time), attempt=run.attempt)
        publishers.invoke_publishers([replace(unit, resume=True) for unit in units])
        resumed.append(ResumedRun(run.run_id, "resent"))
    return resumed
