"""Run one publisher unit: split it into children, or dispatch its part's jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bridge.domain.plan import DEFAULT_BRANCHING, PublisherUnit, split_unit
from bridge.domain.results import build_envelope
from bridge.domain.runs import RunState
from bridge.exceptions import RunNotFound
from bridge.ports import Clock, Ledger, PublisherInvoker, Registry, SendSet, SinkFactory
from publishers.pacing import Pacer

__all__ = ["SEND_BATCH", "STOP_MARGIN", "UnitOutcome", "run_publisher_unit"]

#: envelopes handed to the sink at once when no pacing applies: a multiple of SQS's 10, and
#: enough that one slow (throttled, retried) invoke does not hold up the rest of the part
SEND_BATCH = 100
#: seconds a leaf keeps in hand before its deadline to hand over and re-invoke itself
STOP_MARGIN = 10.0


@dataclass(frozen=True)
class UnitOutcome:
    action: str  # "split" | "dispatched" | "continued" | "skipped" | "stopped"
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

    Before each batch it hands over, a leaf looks at the run: a run cancelled (by hand
    or by `overlap=replace`) or ended meanwhile gets no more of its jobs dispatched.
    `time_left` (seconds, e.g. from the Lambda context) lets a slow, paced leaf stop
    with `STOP_MARGIN` to spare and hand the rest of its part to a continuation of
    itself; the part is marked dispatched only when its last job is handed over.
    """
    stop = _why_stop(ledger, unit)
    if stop:
        return UnitOutcome("skipped", reason=stop)
    if not unit.is_leaf:
        children = split_unit(unit, branching)
        publishers.invoke_publishers(children)
        return UnitOutcome("split", children=len(children))
    if ledger.part_dispatched(unit.run_id, unit.list_name, unit.part, unit.attempt, unit.only):
        return UnitOutcome("skipped", reason="part already dispatched")
    wanted = SendSet(None)
    if unit.only:
        found = ledger.send_set(unit.run_id, unit.attempt, unit.only, unit.list_name, unit.part)
        if found is None:
            return UnitOutcome("skipped", reason=f"no job of this part in send set {unit.only!r}")
        wanted = found

    manifest = registry.load_manifest(unit.group, unit.version)
    max_rate = manifest.controls.max_rate
    leaves = sum(len(job_list.parts) for job_list in manifest.lists)
    # Leaves of one run publish side by side, so each takes an equal share of the rate,
    # and hands over about a second's worth at a time.
    share = None if max_rate is None else max_rate / leaves
    pacer = Pacer(share, clock)
    sink = sinks(manifest)
    batch_size = SEND_BATCH if share is None else max(1, min(SEND_BATCH, int(share)))
    batch: list[tuple[int, dict[str, Any]]] = []  # (position in the part, envelope)
    count = 0
    sink_time = None if time_left is None else (lambda: time_left() - STOP_MARGIN)

    def hand_over() -> tuple[str, int | None]:
        """Send the batch unless the run stopped: why it stopped (or ''), and the
        position of the first job a slow sink had no time left for (or None)."""
        nonlocal batch, count
        if not batch:
            return "", None
        stop = _why_stop(ledger, unit)
        if stop:
            return stop, None
        sent = sink.send([envelope for _, envelope in batch], sink_time)
        count += sent
        unsent = batch[sent][0] if sent < len(batch) else None
        batch = []
        return "", unsent

    def continue_at(position: int) -> UnitOutcome:
        publishers.invoke_publishers([replace(unit, offset=position)])
        return UnitOutcome(
            "continued", jobs=count, reason=f"deadline near; continues at job {position}"
        )

    jobs = registry.read_part(unit.group, unit.version, unit.list_name, unit.part)
    for position, job in enumerate(jobs):
        if position < unit.offset or not wanted.wants(job.id):
            continue
        if time_left is not None and time_left() < STOP_MARGIN:
            stop, unsent = hand_over()
            if stop:
                return UnitOutcome("stopped", jobs=count, reason=stop)
            return continue_at(position if unsent is None else unsent)
        pacer.wait()
        batch.append((position, build_envelope(unit, job)))
        if len(batch) >= batch_size:
            stop, unsent = hand_over()
            if stop:
                return UnitOutcome("stopped", jobs=count, reason=stop)
            if unsent is not None:
                return continue_at(unsent)
    stop, unsent = hand_over()
    if stop:
        return UnitOutcome("stopped", jobs=count, reason=stop)
    if unsent is not None:
        return continue_at(unsent)
    part_size = manifest.job_list(unit.list_name).parts[unit.part]
    ledger.mark_part_dispatched(
        unit.run_id, unit.list_name, unit.part, unit.attempt, unit.only, part_size
    )
    if unit.only:
        # Every job of the part has now been handed over at least once: a part whose first
        # dispatch never finished (its publisher died) counts as dispatched from here.
        ledger.mark_part_dispatched(
            unit.run_id, unit.list_name, unit.part, unit.attempt, "", part_size
        )
    return UnitOutcome("dispatched", jobs=count)


def _why_stop(ledger: Ledger, unit: PublisherUnit) -> str:
    run = ledger.get_run(unit.run_id)
    if run is None:
        raise RunNotFound(f"run {unit.run_id!r} is not in the ledger")
    if run.state is not RunState.RUNNING:
        return f"run is {run.state}"
    if run.attempt != unit.attempt:
        return f"attempt {unit.attempt} was superseded"
    return ""
