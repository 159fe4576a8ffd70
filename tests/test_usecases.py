"""Use cases against the local adapters (real files, real SQLite), with in-process fakes
for the ports that start work, so every step can be driven and inspected."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bridge.domain.chunks import make_chunks
from bridge.domain.controls import Controls, Overlap
from bridge.domain.deadlines import Timing
from bridge.domain.plan import PublisherUnit
from bridge.domain.results import destination_record, parse_destination_record
from bridge.domain.runs import RunState
from bridge.domain.schedules import Schedule
from bridge.domain.tally import Tally
from bridge.domain.triggers import TriggerEvent
from bridge.exceptions import GroupNotFound, InvalidInput, InvalidTrigger
from bridge.local.home import Home
from bridge.local.ledger import SqliteLedger
from bridge.local.registry import FileRegistry
from bridge.usecases.control import ResumeOutcome, resume_run
from bridge.usecases.dispatch import handle_trigger
from bridge.usecases.record import BatchOutcome, record_destination_batch
from bridge.usecases.redrive import RedriveOutcome, redrive_run
from bridge.usecases.register import ListSource, register_group
from bridge.usecases.resume import ResumedRun, resume_runs
from bridge.usecases.sweep import SweepAction, sweep_runs
from publishers.publish import UnitOutcome, run_publisher_unit
from tests.conftest import FakeClock, numbered_jobs, write_jobs
from tests.fakes import RecordingInvoker, RecordingSink, sqs_event

#: a short event age, so deadlines come within a test's fake hour
TIMING = Timing(event_age=600, recording_delay=60, retry_waits=(1, 2))


class World:
    def __init__(self, home: Home, clock: FakeClock, tmp: Path) -> None:
        self.registry = FileRegistry(home.state_dir)
        self.ledger = SqliteLedger(home.ledger_path)
        self.clock = clock
        self.tmp = tmp
        self.invoker = RecordingInvoker()
        self.sink = RecordingSink()
        self.sequence = 0

    def register(
        self,
        lists: dict[str, int],
        controls: Controls | None = None,
        group: str = "g",
        schedule: Schedule | None = None,
    ) -> None:
        sources = []
        for name, count in lists.items():
            path = write_jobs(self.tmp / f"{group}-{name}.jsonl", numbered_jobs(name, count))
            sources.append(ListSource.from_path(name, path))
        register_group(
            group,
            "python:publishers.examples:echo",
            sources,
            controls or Controls(),
            registry=self.registry,
            clock=self.clock,
            check_target=lambda target, controls: None,
            schedule=schedule,
        )

    def event(
        self, body: bytes = b"", key: str = "triggers/g", sequencer: str | None = None
    ) -> TriggerEvent:
        self.sequence += 1
        return TriggerEvent(
            "bucket", key, body, self.clock.now(), sequencer or f"{self.sequence:08X}"
        )

    def trigger(self, event: TriggerEvent):  # type: ignore[no-untyped-def]
        return handle_trigger(
            event,
            registry=self.registry,
            ledger=self.ledger,
            publishers=self.invoker,
            clock=self.clock,
            timing=TIMING,
        )

    def redrive(self, run_id: str) -> RedriveOutcome:
        return redrive_run(
            run_id,
            registry=self.registry,
            ledger=self.ledger,
            publishers=self.invoker,
            clock=self.clock,
            timing=TIMING,
        )

    def resume_all(self) -> list[ResumedRun]:
        return resume_runs(
            registry=self.registry,
            ledger=self.ledger,
            publishers=self.invoker,
            clock=self.clock,
            timing=TIMING,
        )

    def resume(self, run_id: str) -> ResumeOutcome:
        return resume_run(
            run_id,
            registry=self.registry,
            ledger=self.ledger,
            publishers=self.invoker,
            clock=self.clock,
            timing=TIMING,
        )

    def sweep(self) -> list[SweepAction]:
        return sweep_runs(
            registry=self.registry,
            ledger=self.ledger,
            publishers=self.invoker,
            clock=self.clock,
            timing=TIMING,
        )

    def publish(
        self, unit: PublisherUnit, time_left: Callable[[], float] | None = None
    ) -> UnitOutcome:
        return run_publisher_unit(
            unit,
            registry=self.registry,
            ledger=self.ledger,
            publishers=self.invoker,
            sinks=self.sink,
            clock=self.clock,
            time_left=time_left,
        )

    def drain_publishers(self) -> int:
        """Run queued publisher units (and the children they queue) until none is left."""
        ran = 0
        while units := self.invoker.take():
            for unit in units:
                self.publish(unit)
                ran += 1
        return ran

    def finish_jobs(
        self,
        fail: set[str] = frozenset(),  # type: ignore[assignment]
        drop: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> BatchOutcome:
        """Every dispatched job's destination record, but those in `drop`, in one batch."""
        records = [
            destination_record(
                envelope,
                succeeded=envelope["cronbridge"]["job"] not in fail,
                tries=1,
                response={"n": envelope["payload"]["n"]},
                function_arn="arn",
                request_id="r",
                timestamp=self.clock.now(),
            )
            for envelope in self.sink.envelopes
            if envelope["cronbridge"]["job"] not in drop
        ]
        self.sink.envelopes.clear()
        return record_destination_batch(sqs_event(records), ledger=self.ledger)


@pytest.fixture
def world(home: Home, clock: FakeClock, tmp_path: Path) -> Iterator[World]:
    w = World(home, clock, tmp_path)
    yield w
    w.ledger.close()


SLOT = b'{"scheduled_time": "2026-11-22T03:00:00Z"}'


def test_a_trigger_opens_a_run_and_every_job_is_dispatched_once(world: World) -> None:
    world.register({"a": 3000, "b": 20})
    outcome = world.trigger(world.event(SLOT))
    assert (outcome.decision, outcome.run_id, outcome.publishers) == (
        "opened",
        "g.20261122T030000Z",
        2,
    )
    ran = world.drain_publishers()
    assert ran == 2 + 3  # two roots; list a's root splits into three leaves
    ids = world.sink.job_ids()
    assert len(ids) == len(set(ids)) == 3020
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and run.dispatched == 3020 and run.state is RunState.RUNNING
    world.finish_jobs()
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and (run.state, run.succeeded) == (RunState.SUCCEEDED, 3020)


def test_the_same_slot_twice_is_one_run(world: World) -> None:
    world.register({"a": 5})
    first = world.trigger(world.event(SLOT))
    second = world.trigger(world.event(b'{"scheduled_time": "2026-11-22T12:00:00+09:00"}'))
    assert (first.decision, second.decision, second.run_id) == ("opened", "duplicate", first.run_id)
    assert len(world.invoker.units) == 1
    assert len(world.ledger.list_runs("g", 10)) == 1


def test_the_same_s3_event_delivered_twice_is_one_run(world: World) -> None:
    world.register({"a": 5})
    event = world.event()
    assert world.trigger(event).decision == "opened"
    assert world.trigger(event).decision == "duplicate"
    assert len(world.invoker.units) == 1


def test_a_dispatcher_that_dies_before_launching_is_resumed_by_the_redelivery(world: World) -> None:
    world.register({"a": 5})
    event = world.event(SLOT)
    world.invoker.fail_next = 1
    with pytest.raises(ConnectionError):
        world.trigger(event)
    run = world.ledger.get_run("g.20261122T030000Z")
    assert run is not None and run.launched == 0
    again = world.trigger(event)
    assert (again.decision, again.reason, again.publishers) == ("duplicate", "resumed", 1)
    world.drain_publishers()
    assert sorted(world.sink.job_ids()) == sorted(f"a-{i}" for i in range(5))


def test_a_publisher_that_crashes_mid_part_is_retried_and_the_part_counted_once(
    world: World,
) -> None:
    world.register({"a": 1500})
    world.trigger(world.event(SLOT))
    world.sink.crash_after = 1200  # the second leaf dies after 200 of its 500 jobs
    units = world.invoker.take()
    world.publish(units[0])
    leaves = world.invoker.take()
    world.publish(leaves[0])
    with pytest.raises(RuntimeError, match="crashed"):
        world.publish(leaves[1])
    # Lambda retries the failed unit, and a duplicate of the finished one arrives too.
    for unit in (leaves[1], leaves[0]):
        world.publish(unit)
    ids = world.sink.job_ids()
    assert set(ids) == {f"a-{i}" for i in range(1500)}
    assert len(ids) == 1700  # the crashed part's first 200 went out twice: at least once
    run = world.ledger.get_run("g.20261122T030000Z")
    assert run is not None and run.dispatched == 1500
    world.finish_jobs()
    run = world.ledger.get_run("g.20261122T030000Z")
    assert run is not None and (run.state, run.succeeded) == (RunState.SUCCEEDED, 1500)


def test_overlap_skip_records_the_skipped_trigger(world: World) -> None:
    world.register({"a": 2}, Controls(overlap=Overlap.SKIP))
    first = world.trigger(world.event())
    world.clock.advance(60)
    second = world.trigger(world.event())
    assert (
        second.decision == "skipped"
        and second.reason == f"overlap: run {first.run_id} is still running"
    )
    skipped = world.ledger.get_run(second.run_id)
    assert skipped is not None and skipped.state is RunState.SKIPPED and skipped.total == 2
    assert len(world.invoker.units) == 1


def test_overlap_replace_cancels_the_old_run_and_its_publishers_stop(world: World) -> None:
    world.register({"a": 2}, Controls(overlap=Overlap.REPLACE))
    first = world.trigger(world.event())
    old_units = world.invoker.take()
    second = world.trigger(world.event())
    assert second.decision == "opened" and second.cancelled == first.run_id
    for unit in old_units:
        outcome = world.publish(unit)
        assert outcome.reason == "run is cancelled"
    assert world.sink.envelopes == []
    world.drain_publishers()
    assert {e["cronbridge"]["run"] for e in world.sink.envelopes} == {second.run_id}


def test_min_interval_and_max_lateness(world: World) -> None:
    world.register({"a": 1}, Controls(overlap=Overlap.ALLOW, min_interval=300, max_lateness=120))
    assert world.trigger(world.event(SLOT)).decision == "opened"
    close = world.trigger(world.event(b'{"scheduled_time": "2026-11-22T03:02:00Z"}'))
    assert close.decision == "skipped" and close.reason.startswith("min_interval")
    world.clock.advance(3600)
    late = world.trigger(world.event(b'{"scheduled_time": "2026-11-22T03:30:00Z"}'))
    assert late.decision == "skipped" and late.reason.startswith("late")


def test_bad_triggers_leave_the_ledger_untouched(world: World) -> None:
    world.register({"a": 1})
    for key, body, error in [
        ("triggers/nope", b"", GroupNotFound),
        ("triggers/../x", b"", InvalidTrigger),
        ("triggers/g", b"{not json", InvalidTrigger),
        ("triggers/g", b"x" * 5000, InvalidTrigger),
    ]:
        with pytest.raises(error):
            world.trigger(world.event(body, key=key))
    assert world.ledger.list_runs(None, 10) == []
    assert world.invoker.units == []


def test_re_registering_mid_run_does_not_mix_versions(world: World) -> None:
    world.register({"a": 3})
    outcome = world.trigger(world.event(SLOT))
    world.register({"a": 7, "b": 7})  # v2 lands while v1's run is under way
    world.drain_publishers()
    assert sorted(world.sink.job_ids()) == ["a-0", "a-1", "a-2"]
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and run.version == 1 and run.total == 3


def test_a_paced_run_hands_over_a_seconds_worth_a_wake_and_never_sleeps(world: World) -> None:
    """max_rate 20 over two lists: a lane each, 10 jobs a wake, a wake a second. Between
    wakes a lane waits as a delayed continuation of itself, never asleep in a Lambda."""
    world.register({"a": 1000, "b": 1000}, Controls(max_rate=20))
    outcome = world.trigger(world.event(SLOT))
    assert outcome.publishers == 2
    wakes, delays = 0, set()
    while units := world.invoker.units:
        delays |= set(world.invoker.delays)
        world.invoker.take()
        for unit in units:
            world.publish(unit)
            wakes += 1
    assert world.clock.sleeps == [], "nothing sleeps"
    assert wakes == 2 * 100 and delays == {0.0, 1.0}
    assert world.sink.calls == 200  # 10 jobs at a time
    ids = world.sink.job_ids()
    assert len(ids) == len(set(ids)) == 2000
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and run.dispatched == 2000


def test_a_paced_run_holds_as_many_lanes_as_its_rate_needs(world: World) -> None:
    # 10 parts at 250 jobs a second: 3 lanes of 100 a second at most (LANE_RATE).
    world.register({"a": 10_000}, Controls(max_rate=250))
    outcome = world.trigger(world.event(SLOT))
    lanes = world.invoker.take()
    assert outcome.publishers == len(lanes) == 3
    assert [(u.first_part, u.end_part) for u in lanes] == [(0, 4), (4, 7), (7, 10)]
    assert world.publish(lanes[0]).action == "paced"
    [later] = world.invoker.take()
    assert (later.first_part, later.offset) == (0, 83)  # 83 jobs a wake: 250 / 3 a second


def test_redrive_sends_only_the_failed_jobs_again(world: World) -> None:
    world.register({"a": 10, "b": 10})
    outcome = world.trigger(world.event(SLOT))
    world.drain_publishers()
    world.finish_jobs(fail={"a-3", "b-7"})
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and run.state is RunState.FAILED
    redrive = world.redrive(outcome.run_id)
    assert (redrive.jobs, redrive.publishers) == (2, 2)
    world.drain_publishers()
    assert sorted(world.sink.job_ids()) == ["a-3", "b-7"]
    assert {e["cronbridge"]["attempt"] for e in world.sink.envelopes} == {2}
    world.finish_jobs()
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and (run.state, run.succeeded, run.failed) == (RunState.SUCCEEDED, 20, 0)


def test_a_redrive_whose_invoke_failed_is_resumed_by_asking_again(world: World) -> None:
    world.register({"a": 4})
    outcome = world.trigger(world.event(SLOT))
    world.drain_publishers()
    world.finish_jobs(fail={"a-1"})
    world.invoker.fail_next = 1
    with pytest.raises(ConnectionError):
        world.redrive(outcome.run_id)
    again = world.redrive(outcome.run_id)
    assert again.jobs == 1
    world.drain_publishers()
    assert world.sink.job_ids() == ["a-1"]


def test_a_leaf_near_its_deadline_hands_the_rest_of_its_part_to_a_continuation(
    world: World,
) -> None:
    world.register({"a": 300})
    world.trigger(world.event(SLOT))
    [leaf] = world.invoker.take()
    left = iter([60.0] * 120 + [5.0] * 1000)  # time runs short at the 121st job

    outcome = world.publish(leaf, lambda: next(left))
    assert (outcome.action, outcome.jobs) == ("continued", 120)
    [continuation] = world.invoker.take()
    assert continuation.offset == 120 == len(world.sink.envelopes)
    run = world.ledger.get_run("g.20261122T030000Z")
    assert run is not None and run.dispatched == 0  # the part is not done yet
    assert world.publish(continuation).action == "dispatched"
    assert world.sink.job_ids() == [f"a-{i}" for i in range(300)]
    run = world.ledger.get_run("g.20261122T030000Z")
    assert run is not None and run.dispatched == 300


def test_resume_resends_exactly_the_jobs_without_a_result(world: World) -> None:
    world.register({"a": 2500})
    outcome = world.trigger(world.event(SLOT))
    world.publish(world.invoker.take()[0])  # the root splits into three leaves
    leaves = world.invoker.take()
    world.publish(leaves[0])  # part 0 goes out, then the runtime stops:
    world.sink.envelopes = world.sink.envelopes[:600]
    done = set(world.sink.job_ids())
    world.finish_jobs()  # 600 results arrived; 400 invocations of part 0 were lost
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and (run.succeeded, run.dispatched) == (600, 1000)

    resumed = world.resume_all()
    assert [(r.run_id, r.how) for r in resumed] == [(outcome.run_id, "resent")]
    world.drain_publishers()
    resent = world.sink.job_ids()
    assert len(resent) == len(set(resent)) == 1900
    assert not set(resent) & done
    world.finish_jobs()
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and (run.state, run.succeeded, run.dispatched) == (
        RunState.SUCCEEDED,
        2500,
        2500,
    )
    assert world.resume_all() == []


def test_resume_launches_a_run_whose_publishers_never_started(world: World) -> None:
    world.register({"a": 3})
    world.invoker.fail_next = 1
    with pytest.raises(ConnectionError):
        world.trigger(world.event(SLOT))
    resumed = world.resume_all()
    assert [r.how for r in resumed] == ["launched"]
    world.drain_publishers()
    assert sorted(world.sink.job_ids()) == ["a-0", "a-1", "a-2"]


def test_resume_finishes_an_interrupted_redrive(world: World) -> None:
    world.register({"a": 4})
    outcome = world.trigger(world.event(SLOT))
    world.drain_publishers()
    world.finish_jobs(fail={"a-2"})
    world.invoker.fail_next = 1
    with pytest.raises(ConnectionError):
        world.redrive(outcome.run_id)
    resumed = world.resume_all()
    assert [r.how for r in resumed] == ["launched"]
    world.drain_publishers()
    assert world.sink.job_ids() == ["a-2"]


class CancellingSink(RecordingSink):
    """A sink during whose `at`-th send the run is cancelled (by hand, elsewhere)."""

    def __init__(self, world: World, run_id: str, at: int) -> None:
        super().__init__()
        self._cancel = lambda: world.ledger.cancel_run(run_id, "by hand", world.clock.now())
        self._at = at

    def send(
        self, envelopes: Sequence[dict[str, Any]], time_left: Callable[[], float] | None = None
    ) -> int:
        sent = super().send(envelopes)
        if self.calls == self._at:
            self._cancel()
        return sent


def test_a_cancelled_run_gets_no_job_dispatched_after_the_batch_in_flight(world: World) -> None:
    world.register({"a": 1000})
    outcome = world.trigger(world.event(SLOT))
    world.sink = CancellingSink(world, outcome.run_id, at=3)
    [leaf] = world.invoker.take()
    result = world.publish(leaf)
    assert (result.action, result.reason) == ("stopped", "run is cancelled")
    assert len(world.sink.envelopes) == 300, "the third batch was in flight, no more"
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and run.state is RunState.CANCELLED and run.dispatched == 0


def test_a_paced_lanes_wake_delivered_twice_runs_once_and_the_lane_does_not_fork(
    world: World,
) -> None:
    """SQS and Lambda deliver at least once: each wake here comes twice."""
    world.register({"a": 1000}, Controls(max_rate=100))
    world.trigger(world.event(SLOT))
    actions = []
    while units := world.invoker.take():
        for unit in units:
            actions += [world.publish(unit).action, world.publish(unit).action]
    assert actions == ["paced", "skipped"] * 9 + ["dispatched", "skipped"]
    ids = world.sink.job_ids()
    assert len(ids) == len(set(ids)) == 1000


def test_a_paced_lane_stops_at_its_next_wake_after_a_cancel(world: World) -> None:
    world.register({"a": 1000}, Controls(max_rate=100))
    outcome = world.trigger(world.event(SLOT))
    world.sink = CancellingSink(world, outcome.run_id, at=3)
    actions = []
    while units := world.invoker.take():
        actions += [world.publish(unit).action for unit in units]
    assert actions == ["paced", "paced", "paced", "skipped"]
    assert len(world.sink.envelopes) == 300, "the third wake's batch was in flight, no more"


def test_an_overdue_run_resends_its_missing_jobs_then_records_them_lost(world: World) -> None:
    world.register({"a": 1500}, Controls(overlap=Overlap.SKIP))
    outcome = world.trigger(world.event(SLOT))
    world.drain_publishers()
    lost_records = {"a-7", "a-1200", "a-1499"}
    world.finish_jobs(drop=lost_records)  # Lambda could not deliver three records
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and run.deadline is not None and run.state is RunState.RUNNING
    assert world.sweep() == [], "nothing is overdue before the deadline"

    world.clock.current = run.deadline
    assert world.sweep() == [SweepAction(outcome.run_id, "resent", 3)]
    world.drain_publishers()
    assert sorted(world.sink.job_ids()) == sorted(lost_records), "sent once more, only those"
    world.finish_jobs(drop={"a-1200"})  # two arrive this time
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and run.state is RunState.RUNNING and run.resent == 1

    assert run.deadline is not None
    world.clock.current = run.deadline
    assert world.sweep() == [SweepAction(outcome.run_id, "lost", 1)]
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and (run.state, run.succeeded, run.failed, run.lost) == (
        RunState.FAILED,
        1499,
        0,
        1,
    )
    assert world.sweep() == []
    # The group is not silenced: the next trigger opens.
    assert world.trigger(world.event()).decision == "opened"
    # And a lost job is redriven like a failed one.
    world.drain_publishers()
    world.sink.envelopes.clear()
    redrive = world.redrive(outcome.run_id)
    assert redrive.jobs == 1
    world.drain_publishers()
    assert world.sink.job_ids() == ["a-1200"]
    world.finish_jobs()
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and (run.state, run.succeeded, run.lost) == (RunState.SUCCEEDED, 1500, 0)


def test_a_stuck_run_stops_blocking_its_group_at_its_deadline(world: World) -> None:
    world.register({"a": 2}, Controls(overlap=Overlap.SKIP))
    first = world.trigger(world.event())
    world.drain_publishers()
    world.finish_jobs(drop={"a-1"})
    assert world.trigger(world.event()).decision == "skipped"
    run = world.ledger.get_run(first.run_id)
    assert run is not None and run.deadline is not None
    world.clock.current = run.deadline
    assert world.trigger(world.event()).decision == "opened"


def test_the_sweep_launches_a_run_whose_dispatcher_died(world: World) -> None:
    world.register({"a": 3})
    world.invoker.fail_next = 1
    with pytest.raises(ConnectionError):
        world.trigger(world.event(SLOT))
    run = world.ledger.get_run("g.20261122T030000Z")
    assert run is not None and run.deadline is not None
    world.clock.current = run.deadline
    assert [a.action for a in world.sweep()] == ["launched"]
    world.drain_publishers()
    world.finish_jobs()
    run = world.ledger.get_run("g.20261122T030000Z")
    assert run is not None and run.state is RunState.SUCCEEDED


def test_the_sweep_ends_a_run_whose_results_are_all_in(world: World) -> None:
    world.register({"a": 3})
    outcome = world.trigger(world.event(SLOT))
    world.drain_publishers()
    # A recorder that stored every result, then stopped before its recount:
    results = [
        parse_destination_record(
            destination_record(
                e,
                succeeded=True,
                tries=1,
                response=None,
                function_arn="arn",
                request_id="r",
                timestamp=world.clock.now(),
            )
        )
        for e in world.sink.envelopes
    ]
    world.ledger.append_results(outcome.run_id, make_chunks(results))
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and run.state is RunState.RUNNING and run.deadline is not None
    world.clock.current = run.deadline
    assert [a.action for a in world.sweep()] == ["finished"]
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and (run.state, run.succeeded) == (RunState.SUCCEEDED, 3)


def test_resume_sends_a_cancelled_runs_missing_jobs_and_it_ends(world: World) -> None:
    world.register({"a": 300})
    outcome = world.trigger(world.event(SLOT))
    world.sink = CancellingSink(world, outcome.run_id, at=1)
    world.drain_publishers()
    assert len(world.sink.envelopes) == 100
    world.finish_jobs()
    resumed = world.resume(outcome.run_id)
    assert (resumed.how, resumed.jobs, resumed.run.state) == ("resent", 200, RunState.RUNNING)
    world.drain_publishers()
    assert len(world.sink.envelopes) == 200
    world.finish_jobs()
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and (run.state, run.succeeded) == (RunState.SUCCEEDED, 300)


def test_bad_records_in_a_batch_are_rejected_and_never_fail_their_neighbours(
    world: World,
) -> None:
    world.register({"a": 2})
    world.trigger(world.event(SLOT))
    world.drain_publishers()
    good = [
        destination_record(
            e,
            succeeded=True,
            tries=1,
            response=None,
            function_arn="arn",
            request_id="r",
            timestamp=world.clock.now(),
        )
        for e in world.sink.envelopes
    ]
    stray = dict(
        good[0],
        requestPayload={"cronbridge": {**good[0]["requestPayload"]["cronbridge"], "run": "g.nope"}},
    )
    event = sqs_event([good[0], {"not": "a record"}, stray, good[1]])
    event["Records"].insert(1, {"messageId": "m-bad", "body": "{not json"})
    outcome = record_destination_batch(event, ledger=world.ledger)
    assert outcome.response() == {"batchItemFailures": []}
    assert len(outcome.rejected) == 2 and outcome.report.unknown == 1
    assert outcome.report.finished == ["g.20261122T030000Z"]


def test_a_failed_run_without_stored_results_is_not_redriven(world: World) -> None:
    """A run an older version recorded has its counts but none of its results here."""
    world.register({"a": 2})
    outcome = world.trigger(world.event(SLOT))
    before = world.ledger.get_run(outcome.run_id)
    assert before is not None
    world.ledger.finish_run(
        outcome.run_id, 1, RunState.FAILED, Tally(2, 1, 1, 0, None), world.clock.now()
    )
    with pytest.raises(InvalidInput, match="no failed or lost job in the ledger"):
        world.redrive(outcome.run_id)
    after = world.ledger.get_run(outcome.run_id)
    assert after is not None and (after.state, after.attempt) == (RunState.FAILED, 1)


class SlowSink(RecordingSink):
    """A sink with time for only `room` more jobs (as an http: target near the deadline)."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def send(
        self, envelopes: Sequence[dict[str, Any]], time_left: Callable[[], float] | None = None
    ) -> int:
        assert time_left is not None, "the publisher tells a sink how long it may take"
        taken = list(envelopes[: self.room])
        self.room -= len(taken)
        return super().send(taken)


def test_a_sink_out_of_time_hands_the_rest_of_the_part_to_a_continuation(world: World) -> None:
    world.register({"a": 250})
    world.trigger(world.event(SLOT))
    [leaf] = world.invoker.take()
    world.sink = SlowSink(room=140)
    outcome = world.publish(leaf, time_left=lambda: 600.0)
    assert (outcome.action, outcome.jobs) == ("continued", 140)
    [continuation] = world.invoker.take()
    assert continuation.offset == 140
    world.sink.room = 1000
    assert world.publish(continuation, time_left=lambda: 600.0).action == "dispatched"
    assert world.sink.job_ids() == [f"a-{i}" for i in range(250)]
