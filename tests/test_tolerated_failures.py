"""Tolerated failures through the use cases (local adapters, in-process fakes): the
dispatcher pins the group's tolerance on the run, the recorder and the deadline's sweep
end the run by it, and a redrive sends the failures a succeeded run tolerated."""

from __future__ import annotations

import pytest

from bridge.domain.controls import Controls
from bridge.domain.runs import RunState
from bridge.domain.tolerance import Tolerance
from bridge.exceptions import InvalidInput
from bridge.usecases.sweep import SweepAction
from tests.test_usecases import SLOT, World
from tests.test_usecases import world as world  # the fixture

TWO = Controls(max_attempts=1, tolerated_failures=Tolerance(count=2))


def test_failures_within_the_tolerance_succeed_and_are_redriven(world: World) -> None:
    world.register({"a": 10}, TWO)
    outcome = world.trigger(world.event(SLOT))
    world.drain_publishers()
    world.finish_jobs(fail={"a-3", "a-7"})
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and (run.state, run.succeeded, run.failed) == (
        RunState.SUCCEEDED,
        8,
        2,
    )
    assert run.tolerance == Tolerance(count=2)
    redrive = world.redrive(outcome.run_id)
    assert (redrive.jobs, redrive.run.state, redrive.run.attempt) == (2, RunState.RUNNING, 2)
    world.drain_publishers()
    assert sorted(world.sink.job_ids()) == ["a-3", "a-7"]
    world.finish_jobs()
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and (run.state, run.succeeded, run.failed) == (
        RunState.SUCCEEDED,
        10,
        0,
    )
    with pytest.raises(InvalidInput, match="is succeeded; only a failed run") as refused:
        world.redrive(outcome.run_id)
    assert refused.value.hint == "every job of it succeeded: there is nothing to send again"


def test_one_failure_more_than_the_tolerance_fails_the_run(world: World) -> None:
    world.register({"a": 10}, TWO)
    outcome = world.trigger(world.event(SLOT))
    world.drain_publishers()
    world.finish_jobs(fail={"a-1", "a-3", "a-7"})
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and (run.state, run.failed) == (RunState.FAILED, 3)


def test_a_run_keeps_the_tolerance_of_the_version_it_pinned(world: World) -> None:
    world.register({"a": 4}, TWO)
    outcome = world.trigger(world.event(SLOT))
    world.register({"a": 4}, Controls(max_attempts=1))  # v2 tolerates none, mid-run
    world.drain_publishers()
    world.finish_jobs(fail={"a-0"})
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and (run.version, run.state) == (1, RunState.SUCCEEDED)


def test_the_deadline_sweep_ends_a_run_whose_lost_jobs_are_within_the_tolerance(
    world: World,
) -> None:
    world.register({"a": 20}, TWO)
    outcome = world.trigger(world.event(SLOT))
    world.drain_publishers()
    world.finish_jobs(fail={"a-0"}, drop={"a-5"})  # a destination record Lambda lost
    for action in ("resent", "lost"):
        run = world.ledger.get_run(outcome.run_id)
        assert run is not None and run.deadline is not None
        world.clock.current = run.deadline
        assert world.sweep() == [SweepAction(outcome.run_id, action, 1)]
        world.drain_publishers()
        world.sink.envelopes.clear()  # the resent job's record is lost again
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and (run.state, run.succeeded, run.failed, run.lost) == (
        RunState.SUCCEEDED,
        18,
        1,
        1,
    )
    assert world.redrive(outcome.run_id).jobs == 2  # the lost job goes again too
