"""Run one publisher unit: split it into children, or dispatch its part's jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bridge.domain.groups import GroupManifest
from bridge.domain.plan import DEFAULT_BRANCHING, Pace, PublisherUnit, pace, split_unit
from bridge.domain.results import build_envelope
from bridge.domain.runs import RunState
from bridge.exceptions import RunNotFound
from bridge.ports import Clock, JobSink, Ledger, PublisherInvoker, Registry, SendSet, SinkFactory

__all__ = ["SEND_BATCH", "STOP_MARGIN", "UnitOutcome", "run_publisher_unit"]

#: envelopes handed to the sink at once: a multiple of SQS's 10, and enough that one slow
#: (throttled, retried) invoke does not hold up the rest of the part
SEND_BATCH = 100
#: seconds a leaf keeps in hand before its deadline to hand over and re-invoke itself
STOP_MARGIN = 10.0
#: Lambda's longest timeout: how long a wake is held when its deadline is not known
LAMBDA_TIMEOUT = 900.0


@dataclass(frozen=True)
class UnitOutcome:
    action: str  # "split" | "dispatched" | "continued" | "paced" | "skipped" | "stopped"
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
    """Split a unit, dispatch its part's jobs, or, in a paced run, take a lane's next step.

    Before each batch it hands over, a publisher looks at the run: a run cancelled (by
    hand or by `overlap=replace`) or ended meanwhile gets no more of its jobs dispatched.
    `time_left` (seconds, e.g. from the Lambda context) lets a leaf stop with
    `STOP_MARGIN` to spare and hand the rest of its part to a continuation of itself;
    a part is marked dispatched only when its last job is handed over.
    """
    stop = _why_stop(ledger, unit)
    if stop:
        return UnitOutcome("skipped", reason=stop)
    manifest = registry.load_manifest(unit.group, unit.version)
    lane_pace = pace(manifest)
    if lane_pace is not None:
        if not _take_wake(ledger, clock, unit, time_left):
            return UnitOutcome("skipped", reason=f"wake {unit.wake} of this lane ran already")
        return _lane_step(unit, lane_pace, manifest, registry, ledger, publishers, sinks, time_left)
    if not unit.is_leaf:
        children = split_unit(unit, branching)
        publishers.invoke_publishers(children)
        return UnitOutcome("split", children=len(children))
    wanted = _wanted(ledger, unit)
    if wanted is None:
        return UnitOutcome(
            "skipped", reason=f"nothing of this part to send ({unit.only or 'sent'})"
        )
    sender = _Sender(unit, ledger, sinks(manifest), time_left)
    jobs = registry.read_part(unit.group, unit.version, unit.list_name, unit.part)
    for position, job in enumerate(jobs):
        if position < unit.offset or not wanted.wants(job.id):
            continue
        if time_left is not None and time_left() < STOP_MARGIN:
            stop, unsent = sender.hand_over()
            if stop:
                return UnitOutcome("stopped", jobs=sender.count, reason=stop)
            return _continue(publishers, unit, position if unsent is None else unsent, sender)
        sender.add(position, build_envelope(unit, job))
        if len(sender.batch) >= SEND_BATCH:
            stop, unsent = sender.hand_over()
            if stop:
                return UnitOutcome("stopped", jobs=sender.count, reason=stop)
            if unsent is not None:
                return _continue(publishers, unit, unsent, sender)
    stop, unsent = sender.hand_over()
    if stop:
        return UnitOutcome("stopped", jobs=sender.count, reason=stop)
    if unsent is not None:
        return _continue(publishers, unit, unsent, sender)
    _mark_done(ledger, manifest, unit)
    return UnitOutcome("dispatched", jobs=sender.count)


def _lane_step(
    unit: PublisherUnit,
    lane_pace: Pace,
    manifest: GroupManifest,
    registry: Registry,
    ledger: Ledger,
    publishers: PublisherInvoker,
    sinks: SinkFactory,
    time_left: Callable[[], float] | None,
) -> UnitOutcome:
    """One wake of a paced run's lane: hand over the pace's jobs (or what is left of the
    lane), from its current part and offset on, then leave a continuation of itself for
    the next wake, `interval` seconds on. Nothing sleeps in a Lambda."""
    sender = _Sender(unit, ledger, sinks(manifest), time_left)
    part, offset = unit.first_part, unit.offset
    while part < unit.end_part and sender.count < lane_pace.jobs:
        here = replace(unit, first_part=part, end_part=part + 1, offset=offset)
        wanted = _wanted(ledger, here)
        if wanted is None:
            part, offset = part + 1, 0
            continue
        finished = True
        for position, job in enumerate(
            registry.read_part(unit.group, unit.version, unit.list_name, part)
        ):
            if position < offset or not wanted.wants(job.id):
                continue
            if sender.count + len(sender.batch) >= lane_pace.jobs:
                offset, finished = position, False
                break
            sender.add(position, build_envelope(unit, job))
        stop, unsent = sender.hand_over()
        if stop:
            return UnitOutcome("stopped", jobs=sender.count, reason=stop)
        if unsent is not None:
            return _continue(publishers, here, unsent, sender)
        if finished:
            _mark_done(ledger, manifest, here)
            part, offset = part + 1, 0
    if part >= unit.end_part:
        return UnitOutcome("dispatched", jobs=sender.count)
    publishers.invoke_publishers(
        [replace(unit, first_part=part, offset=offset, wake=unit.wake + 1)],
        delay=lane_pace.interval,
    )
    return UnitOutcome(
        "paced",
        jobs=sender.count,
        reason=f"next {lane_pace.jobs} in {lane_pace.interval:g}s, from part {part} job {offset}",
    )


def _take_wake(
    ledger: Ledger, clock: Clock, unit: PublisherUnit, time_left: Callable[[], float] | None
) -> bool:
    """Whether this delivery of a lane's wake is the one to run it. SQS and Lambda
    deliver at least once; without this, a wake delivered twice would fork its lane
    into two, each handing over the lane's jobs at the lane's rate. A redelivery after
    this invocation's deadline (a wake that failed) takes the wake over."""
    hold = time_left() if time_left is not None else LAMBDA_TIMEOUT
    return ledger.take_wake(unit.run_id, unit.lane, unit.wake, clock.now().timestamp(), hold)


class _Sender:
    """Batches of envelopes to the sink, each after a look at the run."""

    def __init__(
        self,
        unit: PublisherUnit,
        ledger: Ledger,
        sink: JobSink,
        time_left: Callable[[], float] | None,
    ) -> None:
        self._unit = unit
        self._ledger = ledger
        self._sink = sink
        self._time = None if time_left is None else (lambda: time_left() - STOP_MARGIN)
        self.batch: list[tuple[int, dict[str, Any]]] = []  # (position in the part, envelope)
        self.count = 0

    def add(self, position: int, envelope: dict[str, Any]) -> None:
        self.batch.append((position, envelope))

    def hand_over(self) -> tuple[str, int | None]:
        """Send the batch unless the run stopped: why it stopped (or ''), and the
        position of the first job a slow sink had no time left for (or None)."""
        if not self.batch:
            return "", None
        stop = _why_stop(self._ledger, self._unit)
        if stop:
            return stop, None
        sent = self._sink.send([envelope for _, envelope in self.batch], self._time)
        self.count += sent
        unsent = self.batch[sent][0] if sent < len(self.batch) else None
        self.batch = []
        return "", unsent


def _continue(
    publishers: PublisherInvoker, unit: PublisherUnit, position: int, sender: _Sender
) -> UnitOutcome:
    publishers.invoke_publishers([replace(unit, offset=position)])
    return UnitOutcome(
        "continued", jobs=sender.count, reason=f"deadline near; continues at job {position}"
    )


def _wanted(ledger: Ledger, unit: PublisherUnit) -> SendSet | None:
    """Which of a leaf's jobs to send; None when nothing of its part is to be sent."""
    if ledger.part_dispatched(unit.run_id, unit.list_name, unit.part, unit.attempt, unit.only):
        return None
    if not unit.only:
        return SendSet(None)
    return ledger.send_set(unit.run_id, unit.attempt, unit.only, unit.list_name, unit.part)


def _mark_done(ledger: Ledger, manifest: GroupManifest, unit: PublisherUnit) -> None:
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


def _why_stop(ledger: Ledger, unit: PublisherUnit) -> str:
    run = ledger.get_run(unit.run_id)
    if run is None:
        raise RunNotFound(f"run {unit.run_id!r} is not in the ledger")
    if run.state is not RunState.RUNNING:
        return f"run is {run.state}"
    if run.attempt != unit.attempt:
        return f"attempt {unit.attempt} was superseded"
    return ""
