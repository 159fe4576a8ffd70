"""Redrive: send a finished run's failed jobs again, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.domain.plan import root_units
from bridge.domain.runs import Run
from bridge.domain.triggers import format_time
from bridge.ports import Ledger, PublisherInvoker, Registry

__all__ = ["RedriveOutcome", "redrive_run"]


@dataclass(frozen=True)
class RedriveOutcome:
    run: Run
    jobs: int
    publishers: int


def redrive_run(
    run_id: str, *, registry: Registry, ledger: Ledger, publishers: PublisherInvoker
) -> RedriveOutcome:
    """RunNotFound, or InvalidInput if the run is not a failed run.

    A redrive whose publishers never started (the invoke failed) is resumed by
    asking again.
    """
    run, per_list = ledger.begin_redrive(run_id)
    manifest = registry.load_manifest(run.group, run.version)
    units = [
        unit
        for unit in root_units(
            run.run_id, manifest, format_time(run.slot_time), attempt=run.attempt
        )
        if per_list.get(unit.list_name)
    ]
    publishers.invoke_publishers(units)
    ledger.mark_launched(run.run_id, run.attempt)
    return RedriveOutcome(run=run, jobs=sum(per_list.values()), publishers=len(units))
