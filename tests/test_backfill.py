"""Backfill (issue 13 item 5) against the local adapters: a real registry and SQLite
ledger, the real dispatch use case behind a recording sender, a fake clock, and a
waiter that ends the run it is asked to wait for, so the order of fires and waits can
be asserted without timing anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.domain.controls import Controls, Overlap
from bridge.domain.pause import Pause
from bridge.domain.runs import Run, RunState
from bridge.domain.schedules import parse_schedule
from bridge.domain.tally import Tally
from bridge.domain.triggers import format_time, slot_run_id
from bridge.exceptions import GroupNotFound, InvalidInput
from bridge.local.home import Home
from bridge.usecases.backfill import (
    MAX_SLOTS_WITHOUT_LIMIT,
    BackfillPlan,
    BackfillReport,
    SlotAnswer,
    plan_backfill,
    run_backfill,
)
from tests.conftest import FakeClock
from tests.test_usecases import World as UsecaseWorld

#: registered at 00:30, an hourly schedule; the backfill happens at noon
REGISTERED = datetime(2026, 11, 22, 0, 30, tzinfo=UTC)
NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 22, hour, minute, tzinfo=UTC)


class World(UsecaseWorld):
    """A scheduled group, and a log of what the backfill did, in order."""

    def __init__(self, home: Home, tmp: Path) -> None:
        super().__init__(home, FakeClock(REGISTERED), tmp)
        self.log: list[str] = []

    def register_hourly(self, overlap: Overlap, schedule: str | None = "0 * * * *") -> None:
        self.register(
            {"a": 2},
            Controls(overlap=overlap),
            schedule=None if schedule is None else parse_schedule(schedule),
        )
        self.clock.current = NOON

    def send(self, group: str, slot: datetime) -> SlotAnswer:
        """What the trigger endpoint does with a PUT carrying the slot."""
        self.log.append(f"fire {format_time(slot)}")
        body = json.dumps({"scheduled_time": format_time(slot), "source": "backfill"})
        outcome = self.trigger(self.event(body.encode(), key=f"triggers/{group}"))
        return SlotAnswer(outcome.decision, outcome.run_id, outcome.reason)

    def wait_for_end(self, run_id: str) -> None:
        """The run's jobs all succeed while we wait."""
        self.log.append(f"wait {run_id}")
        self.clock.advance(60)
        self.ledger.finish_run(
            run_id, 1, RunState.SUCCEEDED, Tally(2, 2, 0, 0, self.clock.now()), self.clock.now()
        )

    def plan(
        self, start: datetime, end: datetime, limit: int | None = None, group: str = "g"
    ) -> BackfillPlan:
        return plan_backfill(
            group,
            start,
            end,
            registry=self.registry,
            ledger=self.ledger,
            clock=self.clock,
            limit=limit,
        )

    def backfill(self, start: datetime, end: datetime, limit: int | None = None) -> BackfillReport:
        return run_backfill(
            self.plan(start, end, limit),
            send=self.send,
            wait_for_end=self.wait_for_end,
            ledger=self.ledger,
        )

    def states(self) -> dict[str, RunState]:
        return {run.run_id: run.state for run in self.ledger.list_runs("g", 100)}


@pytest.fixture
def world(home: Home, tmp_path: Path) -> Iterator[World]:
    made = World(home, tmp_path)
    yield made
    made.ledger.close()


def test_the_window_is_inclusive_at_both_ends_oldest_first(world: World) -> None:
    world.register_hourly(Overlap.ALLOW)
    plan = world.plan(at(3), at(5))
    assert [s.slot for s in plan.to_fire] == [at(3), at(4), at(5)]
    assert [s.run_id for s in plan.to_fire] == [
        "g.20261122T030000Z",
        "g.20261122T040000Z",
        "g.20261122T050000Z",
    ]
    assert [s.slot for s in world.plan(at(2, 59), at(3, 1)).slots] == [at(3)]


def test_overlap_skip_waits_for_each_run_to_end_before_the_next_slot(world: World) -> None:
    world.register_hourly(Overlap.SKIP)
    report = world.backfill(at(3), at(5))
    assert [f.answer.decision for f in report.fired] == ["opened", "opened", "opened"]
    assert world.log == [
        "fire 2026-11-22T03:00:00.000Z",
        "wait g.20261122T030000Z",
        "fire 2026-11-22T04:00:00.000Z",
        "wait g.20261122T040000Z",
        "fire 2026-11-22T05:00:00.000Z",
    ]


def test_overlap_skip_first_waits_for_a_run_already_going(world: World) -> None:
    world.register_hourly(Overlap.SKIP)
    world.send("g", at(11))  # the scheduler's own trigger, still running
    world.log.clear()
    world.backfill(at(3), at(3))
    assert world.log == ["wait g.20261122T110000Z", "fire 2026-11-22T03:00:00.000Z"]


def test_overlap_replace_waits_too_so_no_slot_cancels_another(world: World) -> None:
    world.register_hourly(Overlap.REPLACE)
    report = world.backfill(at(3), at(4))
    assert [f.answer.decision for f in report.fired] == ["opened", "opened"]
    assert world.log[1] == "wait g.20261122T030000Z"
    assert RunState.CANCELLED not in world.states().values()


def test_overlap_allow_fires_every_slot_without_waiting(world: World) -> None:
    world.register_hourly(Overlap.ALLOW)
    report = world.backfill(at(3), at(5))
    assert [f.answer.decision for f in report.fired] == ["opened", "opened", "opened"]
    assert not [line for line in world.log if line.startswith("wait")]
    assert set(world.states().values()) == {RunState.RUNNING}


def test_slots_that_ran_are_left_alone_and_a_second_backfill_opens_nothing(
    world: World,
) -> None:
    world.register_hourly(Overlap.SKIP)
    world.send("g", at(4))  # the 04:00 slot ran on time
    world.wait_for_end("g.20261122T040000Z")
    first = world.backfill(at(3), at(5))
    assert [(f.answer.run_id, f.answer.decision) for f in first.fired] == [
        ("g.20261122T030000Z", "opened"),
        ("g.20261122T050000Z", "opened"),
    ]
    assert [(s.run_id, s.ran) for s in first.plan.already_ran] == [
        ("g.20261122T040000Z", RunState.SUCCEEDED)
    ]
    world.wait_for_end("g.20261122T050000Z")
    again = world.backfill(at(3), at(5))
    assert again.fired == ()
    assert len(again.plan.already_ran) == 3
    assert len(world.states()) == 3


def test_a_slot_that_got_its_run_after_the_plan_answers_duplicate(world: World) -> None:
    world.register_hourly(Overlap.ALLOW)
    plan = world.plan(at(3), at(3))
    world.send("g", at(3))  # the late scheduler's trigger, between the plan and the fire
    report = run_backfill(
        plan, send=world.send, wait_for_end=world.wait_for_end, ledger=world.ledger
    )
    assert [(f.answer.run_id, f.answer.decision) for f in report.fired] == [
        ("g.20261122T030000Z", "duplicate")
    ]
    assert len(world.states()) == 1


def test_limit_fires_the_oldest_n_that_have_no_run(world: World) -> None:
    world.register_hourly(Overlap.ALLOW)
    world.send("g", at(2))
    report = world.backfill(at(1), at(11), limit=2)
    assert [f.slot for f in report.fired] == [at(1), at(3)]
    assert [s.slot for s in report.plan.already_ran] == [at(2)]


def test_a_window_over_10000_slots_needs_limit_and_fires_nothing(world: World) -> None:
    world.register_hourly(Overlap.ALLOW, schedule="* * * * *")
    start = NOON - timedelta(minutes=MAX_SLOTS_WITHOUT_LIMIT)
    assert len(world.plan(start + timedelta(minutes=1), NOON).slots) == MAX_SLOTS_WITHOUT_LIMIT
    with pytest.raises(InvalidInput, match="more than 10,000 slots") as raised:
        world.plan(start, NOON)
    assert raised.value.hint is not None and "--limit" in raised.value.hint
    assert raised.value.exit_code == 2
    assert [s.slot for s in world.plan(start, NOON, limit=2).to_fire] == [
        start,
        start + timedelta(minutes=1),
    ]
    assert world.states() == {}


def test_a_dry_run_plan_changes_nothing(world: World) -> None:
    world.register_hourly(Overlap.SKIP)
    world.send("g", at(4))
    before = world.states()
    plan = world.plan(at(3), at(5))
    assert [s.slot for s in plan.to_fire] == [at(3), at(5)]
    assert world.states() == before


def test_a_group_without_a_schedule_is_refused_with_a_hint(world: World) -> None:
    world.register_hourly(Overlap.SKIP, schedule=None)
    with pytest.raises(InvalidInput, match="no schedule") as raised:
        world.plan(at(3), at(5))
    assert raised.value.hint is not None and "--schedule" in raised.value.hint
    assert raised.value.exit_code == 2


def test_a_paused_group_is_refused_until_it_is_resumed_or_its_pause_ends(world: World) -> None:
    """Fired while paused, every slot would be recorded skipped and its run id taken."""
    world.register_hourly(Overlap.SKIP)
    world.registry.set_pause("g", Pause(since=at(1), until=NOON + timedelta(hours=1)))
    with pytest.raises(InvalidInput, match="is paused") as raised:
        world.plan(at(3), at(5))
    assert raised.value.hint is not None and "groups resume g" in raised.value.hint
    assert world.states() == {}
    world.clock.current = NOON + timedelta(hours=1)  # the pause has ended by itself
    assert [s.slot for s in world.plan(at(3), at(5)).to_fire] == [at(3), at(4), at(5)]


def test_an_unknown_group_is_not_found(world: World) -> None:
    world.register_hourly(Overlap.SKIP)
    with pytest.raises(GroupNotFound) as raised:
        world.plan(at(3), at(5), group="nope")
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    ("start", "end", "limit", "message"),
    [
        (at(5), at(3), None, "before --from"),
        (at(3), NOON + timedelta(hours=1), None, "in the future"),
        (at(3), at(5), 0, "--limit must be 1 or more"),
    ],
)
def test_a_bad_window_or_limit_is_refused(
    world: World, start: datetime, end: datetime, limit: int | None, message: str
) -> None:
    world.register_hourly(Overlap.SKIP)
    with pytest.raises(InvalidInput, match=message):
        world.plan(start, end, limit)


def test_a_slot_with_only_a_missed_record_is_fired(world: World) -> None:
    world.register_hourly(Overlap.ALLOW)
    missed = Run("g.20261122T030000Z", "g", 1, RunState.MISSED, 2, at(3), at(3, 5))
    assert world.ledger.record_missed(missed) == "opened"
    plan = world.plan(at(3), at(4))
    assert [s.slot for s in plan.to_fire] == [at(3), at(4)]


def test_slot_run_id_is_the_id_a_trigger_derives() -> None:
    assert slot_run_id("g", at(3)) == "g.20261122T030000Z"
