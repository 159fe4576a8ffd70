"""Pausing a group (issue 13, item 4), on both adapter families: the pause kept in the
group's `current` pointer, and what a trigger, `--until`, `--cancel-running` and a
registration do with it. The clock is injected: nothing here waits."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.domain.pause import PAUSED, GroupHead, Pause, parse_until
from bridge.domain.runs import RunState
from bridge.exceptions import GroupNotFound, InvalidInput
from bridge.local.home import Home
from bridge.ports import Ledger, Registry
from bridge.usecases.dispatch import TriggerOutcome
from bridge.usecases.pause import pause_group, resume_group
from tests.conftest import FakeClock
from tests.contract.conftest import snapshot
from tests.test_usecases import World


def pause(world: World, hours: float | None = None, cancel_running: bool = False) -> None:
    until = None if hours is None else world.clock.now() + timedelta(hours=hours)
    pause_group(
        "g", until, cancel_running, registry=world.registry, ledger=world.ledger, clock=world.clock
    )


def trigger(world: World, group: str = "g") -> TriggerOutcome:
    outcome: TriggerOutcome = world.trigger(world.event(key=f"triggers/{group}"))
    return outcome


@pytest.fixture
def world(registry: Any, ledger: Any, home: Home, clock: FakeClock, tmp_path: Path) -> World:
    """Group g (3 jobs) on this family's registry and ledger, triggered by the dispatcher."""
    made = World(home, clock, tmp_path)
    made.ledger.close()  # the local one it opens: this family's stand in for both
    made.registry, made.ledger = registry, ledger
    made.register({"a": 3})
    return made


# -- the registry ---------------------------------------------------------------------


def test_the_pause_is_kept_in_the_current_pointer(world: World, clock: FakeClock) -> None:
    registry = world.registry
    assert registry.head("g") == GroupHead(1)
    until = clock.now() + timedelta(hours=2)
    assert registry.set_pause("g", Pause(clock.now(), until)) == GroupHead(
        1, Pause(clock.now(), until)
    )
    assert registry.head("g") == GroupHead(1, Pause(clock.now(), until))
    pointer = json.loads(snapshot(registry)["groups/g/current.json"])
    assert pointer == {
        "version": 1,
        "paused": {"since": "2026-11-22T03:00:00.000Z", "until": "2026-11-22T05:00:00.000Z"},
    }
    assert registry.current_version("g") == 1
    assert registry.set_pause("g", None) == GroupHead(1)
    assert snapshot(registry)["groups/g/current.json"] == b'{"version": 1}'


def test_an_unknown_group_cannot_be_paused_and_nothing_is_written(
    registry: Registry, ledger: Ledger, clock: FakeClock
) -> None:
    before = snapshot(registry)
    assert registry.head("nope") is None
    with pytest.raises(GroupNotFound):
        registry.set_pause("nope", Pause(clock.now()))
    with pytest.raises(GroupNotFound):
        pause_group("nope", registry=registry, ledger=ledger, clock=clock)
    with pytest.raises(GroupNotFound):
        resume_group("nope", registry=registry)
    assert snapshot(registry) == before


def test_re_registering_a_paused_group_keeps_it_paused(world: World) -> None:
    pause(world, hours=5)
    paused = world.registry.head("g")
    assert paused is not None and paused.pause is not None
    world.register({"a": 7})
    assert world.registry.head("g") == GroupHead(2, paused.pause)
    outcome = trigger(world)
    assert (outcome.decision, outcome.reason) == ("skipped", PAUSED)
    resume_group("g", registry=world.registry)
    assert world.registry.head("g") == GroupHead(2)
    assert world.registry.load_manifest("g").total_jobs == 7


def test_a_pause_in_the_past_is_refused_before_anything_is_written(
    world: World, clock: FakeClock
) -> None:
    before = snapshot(world.registry)
    for hours in (0, -1 / 3600):
        with pytest.raises(InvalidInput):
            pause(world, hours=hours)
    assert snapshot(world.registry) == before


# -- triggers -------------------------------------------------------------------------


def test_a_trigger_while_paused_is_recorded_skipped_and_opens_nothing(world: World) -> None:
    pause(world)
    outcome = trigger(world)
    assert (outcome.decision, outcome.reason) == ("skipped", PAUSED)
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None
    assert (run.state, run.reason, run.group) == (RunState.SKIPPED, PAUSED, "g")
    assert world.invoker.units == []
    assert world.ledger.open_runs() == []
    assert [r.run_id for r in world.ledger.list_runs("g", 10)] == [outcome.run_id]


def test_resume_lets_the_next_trigger_open_a_run(world: World) -> None:
    pause(world)
    assert trigger(world).decision == "skipped"
    resume_group("g", registry=world.registry)
    assert trigger(world).decision == "opened"
    assert len(world.invoker.units) == 1


def test_until_ends_the_pause_by_itself(world: World, clock: FakeClock) -> None:
    pause(world, hours=2)
    clock.advance(2 * 3600 - 1)
    assert trigger(world).reason == PAUSED
    clock.advance(1)  # at `until` the pause is over: nothing had to run at that time
    assert trigger(world).decision == "opened"
    head = world.registry.head("g")
    assert head is not None and head.paused_at(clock.now()) is None


def test_runs_in_flight_finish_unless_cancel_running(world: World, clock: FakeClock) -> None:
    first = trigger(world)
    assert first.decision == "opened"
    pause(world)
    still = world.ledger.get_run(first.run_id)
    assert still is not None and still.state is RunState.RUNNING
    resume_group("g", registry=world.registry)
    clock.advance(1)
    pause(world, cancel_running=True)
    cancelled = world.ledger.get_run(first.run_id)
    assert cancelled is not None
    assert (cancelled.state, cancelled.reason) == (RunState.CANCELLED, "group paused")
    assert trigger(world).reason == PAUSED


def test_cancel_running_touches_no_other_group(world: World) -> None:
    world.register({"o": 2}, group="other")
    other = trigger(world, "other")
    pause(world, cancel_running=True)
    run = world.ledger.get_run(other.run_id)
    assert run is not None and run.state is RunState.RUNNING


# -- --until as the CLI reads it --------------------------------------------------------


def test_until_reads_a_duration_or_a_time_in_the_future(clock: FakeClock) -> None:
    now = clock.now()
    assert parse_until("2h", now) == now + timedelta(hours=2)
    assert parse_until("90", now) == now + timedelta(seconds=90)
    assert parse_until("2026-11-23T00:00:00+09:00", now) == now + timedelta(hours=12)
    for bad in ("soon", "", "2026-11-22T02:00:00Z", "0", "2026-11-22T03:00:00Z", "-1h"):
        with pytest.raises(InvalidInput) as caught:
            parse_until(bad, now)
        assert caught.value.hint


def test_a_pause_covers_from_its_start_to_its_end(clock: FakeClock) -> None:
    now = clock.now()
    pause = Pause(now, now + timedelta(hours=1))
    assert not pause.covers(now - timedelta(seconds=1))
    assert pause.covers(now)
    assert pause.covers(now + timedelta(minutes=59))
    assert not pause.covers(now + timedelta(hours=1))
    assert Pause(now).covers(now + timedelta(days=3650))
