"""Run one publisher unit: split it into children, or dispatch its part's jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bridge.domain.plan import DEFAULT_BRANCHING, PublisherUnit, split_unit
from bridge.domain.results import build_envelope
from bridge.domain.runs import RunState
from bridge.exceptions import RunNotFound
from bridge.ports import Clock, Ledger, PublisherInvoker, Registry, SinkFactory
from publishers.pacing import Pacer

__all__ = ["SEND_BATCH", "STOP_MARGIN", "UnitOutcome", "run_publisher_unit"]

#: envelopes handed to the sink at once when no pacing applies: a multiple of SQS's 10, and
#: enough that one slow (throttled, retried) invoke does not hold up the rest of the part
SEND_BATCH = 100
#: seconds a leaf keeps in hand before its deadline to hand over and re-invoke itself
STOP_MARGIN = 10.0


@dataclass(frozen=True)
class UnitOutcome:
    action: str  # "split" | "dispatched" | "continued" | "skipped"
    children: int = 0
    jobs: int = 0
    reason: str = ""


def run_publisher_unit(
    unit: PublisherUnit,
    *,
    registry: Registry,
    ledger: Ledger,
    publishers: PublisherInvoker,
    sinks: SinkFactory,
    clock: Clock,
    branching: int = DEFAULT_BRANCHING,
    time_left: Callable[[], float] | None = None,
) -> UnitOutcome:
    """Split a unit, or dispatch its part's jobs.

    `time_left` (seconds, e.g. from the Lambda context) lets a slow, paced leaf stop
    with `STOP_MARGIN` to spare and hand the rest of its part to a continuation of
    itself; the part is marked dispatched only when its last job is handed over.
    """
    run = ledger.get_run(unit.run_id)
    if run is None:
        raise RunNotFound(f"run {unit.run_id!r} is not in the ledger")
    if run.state is RunState.CANCELLED:
        return UnitOutcome("skipped", reason="run was cancelled")
    if run.attempt != unit.attempt:
        return UnitOutcome("skipped", reason=f"attempt {unit.attempt} was superseded")
    if not unit.is_leaf:
        children = split_unit(unit, branching)
        publishers.invoke_publishers(children)
        return UnitOutcome("split", children=len(children))
    if not unit.resume and ledger.part_dispatched(
        unit.run_id, unit.list_name, unit.part, unit.attempt
    ):
        return UnitOutcome("skipped", reason="part already dispatched")

    manifest = registry.load_manifest(unit.group, unit.version)
    wanted = (
        ledger.redrive_jobs(unit.run_id, unit.list_name, unit.attempt) if unit.attempt > 1 else None
    )
    # Resuming a first attempt: every job without a result is sent again.
    finished = (
        ledger.finished_jobs(unit.run_id, unit.list_name)
        if unit.resume and wanted is None
        else set()
    )
    max_rate = manifest.controls.max_rate
    leaves = sum(len(job_list.parts) for job_list in manifest.lists)
    # Leaves of one run publish side by side, so each takes an equal share of the rate.
    pacer = Pacer(None if max_rate is None else max_rate / leaves, clock)
    sink = sinks(manifest)
    batch_size = 1 if pacer.active else SEND_BATCH
    batch: list[dict[str, Any]] = []
    count = 0
    jobs = registry.read_part(unit.group, unit.version, unit.list_name, unit.part)
    for position, job in enumerate(jobs):
        if (
            position < unit.offset
            or (wanted is not None and job.id not in wanted)
            or job.id in finished
        ):
            continue
        if time_left is not None and time_left() < STOP_MARGIN:
            sink.send(batch)
            publishers.invoke_publishers([replace(unit, offset=position)])
            return UnitOutcome(
                "continued", jobs=count, reason=f"deadline near; continues at job {position}"
            )
        pacer.wait()
        batch.append(build_envelope(unit, job))
        count += 1
        if len(batch) >= batch_size:
            sink.send(batch)
            batch = []
    if batch:
        sink.send(batch)
    part_size = manifest.job_list(unit.list_name).parts[unit.part]
    ledger.mark_part_dispatched(unit.run_id, unit.list_name, unit.part, unit.attempt, part_size)
    return UnitOutcome("dispatched", jobs=count)
