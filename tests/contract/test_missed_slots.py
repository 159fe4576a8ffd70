"""Missed and late slots (issue 13, item 2) and the run events alerts are sent for, on
both adapter families. The clock is injected: nothing here waits."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.domain.controls import Controls
from bridge.domain.events import EventKind, PendingEvent, RunEvent
from bridge.domain.pause import PAUSED
from bridge.domain.runs import Run, RunState
from bridge.domain.schedules import parse_schedule
from bridge.domain.tally import Tally
from bridge.domain.tolerance import parse_tolerance
from bridge.domain.triggers import BACKFILL_SOURCE, slot_run_id
from bridge.local.home import Home
from bridge.usecases import slots as slots_module
from bridge.usecases.pause import pause_group
from bridge.usecases.slots import check_slots
from tests.conftest import FakeClock
from tests.test_usecases import World

#: registered at 00:30 UTC; hourly on the hour, 5 minutes' tolerance
REGISTERED = datetime(2026, 11, 22, 0, 30, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 22) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def world(registry: Any, ledger: Any, home: Home, tmp_path: Path) -> World:
    made = World(home, FakeClock(REGISTERED), tmp_path)
    made.ledger.close()  # the local one it opens: this family's stands in for both
    made.registry, made.ledger = registry, ledger
    return made


def register(world: World, expression: str = "0 * * * *", **kwargs: Any) -> None:
    controls = kwargs.pop("controls", None)
    world.register({"a": 3}, controls=controls, schedule=parse_schedule(expression, **kwargs))


def check(world: World, when: datetime) -> list[str]:
    world.clock.current = when
    return [
        run_id
        for c in check_slots(registry=world.registry, ledger=world.ledger, clock=world.clock)
        for run_id in c.missed
    ]


def fire(world: World, slot: datetime, when: datetime, source: str | None = None) -> Any:
    world.clock.current = when
    body: dict[str, str] = {"scheduled_time": slot.isoformat()}
    if source:
        body["source"] = source
    return world.trigger(world.event(json.dumps(body).encode()))


def events(world: World) -> list[RunEvent]:
    far = datetime(2100, 1, 1, tzinfo=UTC)
    return [p.event for p in world.ledger.pending_events(far, 1000)]


# -- the ledger -------------------------------------------------------------------------


def missed_run(run_id: str = "g.20261122T010000Z") -> Run:
    return Run(
        run_id=run_id,
        group="g",
        version=1,
        state=RunState.MISSED,
        total=3,
        slot_time=at(1),
        opened_at=at(1, 6),
        scheduled=True,
        source="schedule",
        reason="no trigger came within slot_tolerance 5m",
        finished_at=at(1, 6),
    )


def test_a_missed_run_is_listed_but_never_the_groups_latest(world: World) -> None:
    ledger = world.ledger
    event = RunEvent(EventKind.MISSED, "g.20261122T010000Z", "g", 1, at(1, 6), "one slot")
    assert ledger.record_missed(missed_run(), [event]) == "opened"
    assert ledger.record_missed(missed_run(), [event]) == "duplicate"
    assert ledger.latest_run("g") is None
    stored = ledger.get_run("g.20261122T010000Z")
    assert stored is not None and stored.state is RunState.MISSED
    assert [r.run_id for r in ledger.list_runs("g", 10)] == ["g.20261122T010000Z"]
    assert ledger.open_runs() == []
    assert events(world) == [event]
    assert ledger.note_event(event) is False  # kept once


def test_a_run_replaces_a_missed_one_only_when_asked_and_only_a_missed_one(world: World) -> None:
    ledger = world.ledger
    ledger.record_missed(missed_run(), [])
    late = replace(missed_run(), state=RunState.RUNNING, reason="late", finished_at=None)
    assert ledger.open_run(late, previous=None, cancel=None) == "duplicate"
    late_event = RunEvent(EventKind.LATE, late.run_id, "g", 1, at(1, 30), "late")
    assert (
        ledger.open_run(late, previous=None, cancel=None, over_missed=True, events=[late_event])
        == "opened"
    )
    stored = ledger.get_run(late.run_id)
    assert stored is not None and stored.state is RunState.RUNNING and stored.reason == "late"
    assert ledger.latest_run("g") is not None
    assert [r.run_id for r in ledger.open_runs()] == [late.run_id]
    assert events(world) == [late_event]
    # a running run is not a missed one: nothing replaces it
    assert ledger.open_run(late, previous=late.run_id, cancel=None, over_missed=True) == "duplicate"
    skipped = replace(late, state=RunState.SKIPPED, reason="late")
    assert ledger.record_skip(skipped, over_missed=True) == "duplicate"
    assert len(ledger.list_runs("g", 10)) == 1


def test_events_wait_until_dropped_and_keep_their_retries(world: World) -> None:
    ledger = world.ledger
    first = RunEvent(EventKind.STUCK, "g.r1", "g", 1, at(1), "stuck")
    second = RunEvent(EventKind.FAILED, "g.r2", "g", 2, at(2), "failed")
    assert ledger.note_event(first) and ledger.note_event(second)
    assert ledger.pending_events(at(3), 10) == [PendingEvent(first), PendingEvent(second)]
    retry = PendingEvent(first, tries=2, next_try=at(4), targets=("a1",), last_error="HTTP 500")
    ledger.retry_event(retry)
    assert ledger.pending_events(at(3), 10) == [PendingEvent(second)]  # not due yet
    assert ledger.pending_events(at(4), 10) == [retry, PendingEvent(second)]
    assert ledger.pending_events(at(4), 1) == [retry]
    ledger.drop_event(first)
    assert ledger.pending_events(at(5), 10) == [PendingEvent(second)]
    assert ledger.note_event(first) is False  # delivered is not forgotten
    emptied = PendingEvent(second, tries=1, next_try=at(4), targets=())
    ledger.retry_event(emptied)
    assert ledger.pending_events(at(5), 10) == [emptied]


def test_a_finished_runs_events_are_kept_only_if_this_call_finished_it(world: World) -> None:
    register(world)
    world.clock.current = at(1)
    outcome = world.trigger(world.event())
    ledger = world.ledger
    event = RunEvent(EventKind.FAILED, outcome.run_id, "g", 1, at(1, 1), "3 failed")
    counts = Tally(3, 0, 3, 0, at(1, 1))
    assert ledger.finish_run(outcome.run_id, 1, RunState.FAILED, counts, at(1, 1), [event])
    again = replace(event, detail="again")
    assert not ledger.finish_run(outcome.run_id, 1, RunState.FAILED, counts, at(1, 1), [again])
    assert events(world) == [event]


def test_the_slot_mark_only_moves_forward(world: World) -> None:
    ledger = world.ledger
    assert ledger.slots_checked("g") is None
    ledger.set_slots_checked("g", at(3))
    ledger.set_slots_checked("g", at(2))
    assert ledger.slots_checked("g") == at(3)
    ledger.set_slots_checked("g", at(4))
    assert ledger.slots_checked("g") == at(4)


# -- missed slots -----------------------------------------------------------------------


def test_a_missed_slot_is_recorded_once_and_alerted_once(world: World) -> None:
    register(world)
    assert check(world, at(1, 4)) == []  # within its 5 minutes' tolerance
    assert check(world, at(1, 6)) == ["g.20261122T010000Z"]
    assert check(world, at(1, 7)) == []
    assert check(world, at(1, 59)) == []
    run = world.ledger.get_run("g.20261122T010000Z")
    assert run is not None and run.state is RunState.MISSED and run.scheduled
    assert run.slot_time == at(1) and run.reason == "no trigger came within slot_tolerance 5m"
    [event] = events(world)
    assert (event.kind, event.run_id, event.group) == (EventKind.MISSED, run.run_id, "g")
    assert "2026-11-22T01:00:00.000Z" in event.detail
    assert [r.state for r in world.ledger.list_runs("g", 10)] == [RunState.MISSED]


def test_slots_before_the_registration_are_never_missed(world: World) -> None:
    register(world)  # at 00:30: the 00:00 slot was before it
    assert check(world, at(0, 40)) == []
    assert world.ledger.list_runs("g", 10) == []


def test_a_slot_that_was_triggered_is_not_missed(world: World) -> None:
    register(world)
    assert fire(world, at(1), at(1) + timedelta(seconds=2)).decision == "opened"
    assert check(world, at(2, 10)) == ["g.20261122T020000Z"]
    assert world.ledger.get_run("g.20261122T010000Z").state is RunState.RUNNING  # type: ignore[union-attr]
    assert [e.kind for e in events(world)] == [EventKind.MISSED]


def test_several_slots_missed_in_one_check_are_one_alert(world: World) -> None:
    register(world)
    assert check(world, at(4, 6)) == [slot_run_id("g", at(h)) for h in (1, 2, 3, 4)]
    [event] = events(world)
    assert event.run_id == slot_run_id("g", at(4))
    assert event.detail.startswith("4 slots missed, from 2026-11-22T01:00:00.000Z")


def test_a_long_gap_is_checked_a_bounded_number_of_slots_at_a_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slots_module, "MAX_SLOTS_PER_CHECK", 3)
    register(world)
    assert check(world, at(8, 6)) == [slot_run_id("g", at(h)) for h in (1, 2, 3)]
    assert check(world, at(8, 6)) == [slot_run_id("g", at(h)) for h in (4, 5, 6)]
    assert check(world, at(8, 6)) == [slot_run_id("g", at(h)) for h in (7, 8)]
    assert check(world, at(8, 6)) == []
    assert len(events(world)) == 3  # one per check


def test_a_paused_groups_slots_are_skipped_and_silent(world: World) -> None:
    register(world)
    world.clock.current = at(0, 45)
    pause_group(
        "g", at(2, 30), False, registry=world.registry, ledger=world.ledger, clock=world.clock
    )
    assert check(world, at(3, 6)) == [slot_run_id("g", at(3))]  # 03:00 is after the pause
    paused = [world.ledger.get_run(slot_run_id("g", at(h))) for h in (1, 2)]
    assert [(r.state, r.reason) for r in paused if r] == [(RunState.SKIPPED, PAUSED)] * 2
    assert [e.run_id for e in events(world)] == [slot_run_id("g", at(3))]


# -- late triggers ----------------------------------------------------------------------


def test_a_trigger_for_a_missed_slot_opens_it_late_once(world: World) -> None:
    register(world)
    check(world, at(1, 6))
    outcome = fire(world, at(1), at(1, 20))
    assert (outcome.decision, outcome.run_id) == ("opened", "g.20261122T010000Z")
    assert outcome.publishers == 1
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and run.state is RunState.RUNNING
    assert run.reason == "late: triggered 20m after its slot (slot_tolerance 5m)"
    assert world.ledger.latest_run("g") == run
    assert fire(world, at(1), at(1, 21)).decision == "duplicate"
    assert [e.kind for e in events(world)] == [EventKind.MISSED, EventKind.LATE]
    assert len(world.ledger.list_runs("g", 10)) == 1


def test_a_late_trigger_before_the_sweep_is_late_and_the_slot_is_not_missed(world: World) -> None:
    register(world)
    assert fire(world, at(1), at(1, 7)).decision == "opened"
    assert check(world, at(1, 8)) == []
    assert [e.kind for e in events(world)] == [EventKind.LATE]


def test_a_trigger_within_the_tolerance_is_not_late(world: World) -> None:
    register(world)
    assert fire(world, at(1), at(1, 5)).decision == "opened"
    assert world.ledger.get_run(slot_run_id("g", at(1))).reason == ""  # type: ignore[union-attr]
    assert events(world) == []


def test_max_lateness_turns_a_missed_slots_trigger_away(world: World) -> None:
    register(world, controls=Controls(max_lateness=600))
    check(world, at(1, 6))
    outcome = fire(world, at(1), at(1, 30))
    assert outcome.decision == "skipped" and outcome.reason.startswith("late: scheduled 30m")
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and run.state is RunState.SKIPPED
    assert world.ledger.latest_run("g") is None
    assert [e.kind for e in events(world)] == [EventKind.MISSED, EventKind.LATE]
    assert fire(world, at(1), at(1, 31)).decision == "duplicate"


def test_a_backfill_opens_a_missed_slot_neither_late_nor_turned_away(world: World) -> None:
    register(world, controls=Controls(max_lateness=600))
    check(world, at(1, 6))
    outcome = fire(world, at(1), at(5), source=BACKFILL_SOURCE)
    assert outcome.decision == "opened"
    assert world.ledger.get_run(outcome.run_id).reason == ""  # type: ignore[union-attr]
    assert [e.kind for e in events(world)] == [EventKind.MISSED]


# -- daylight saving time ---------------------------------------------------------------


def test_dst_spring_forward_skips_the_slot_that_does_not_exist(world: World) -> None:
    world.clock.current = datetime(2026, 3, 27, 12, tzinfo=UTC)
    register(world, "30 1 * * *", time_zone="Europe/London")
    check(world, datetime(2026, 3, 31, 12, tzinfo=UTC))
    slots = sorted(r.slot_time for r in world.ledger.list_runs("g", 10))
    # 01:30 GMT on the 28th; none on the 29th (01:00 -> 02:00 BST); 00:30Z = 01:30 BST after
    assert slots == [
        datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 31, 0, 30, tzinfo=UTC),
    ]


def test_dst_fall_back_runs_the_repeated_slot_once(world: World) -> None:
    world.clock.current = datetime(2026, 10, 24, 12, tzinfo=UTC)
    register(world, "30 1 * * *", time_zone="Europe/London")
    check(world, datetime(2026, 10, 26, 12, tzinfo=UTC))
    slots = sorted(r.slot_time for r in world.ledger.list_runs("g", 10))
    # 01:30 happens twice on the 25th (BST, then GMT): its first pass only
    assert slots == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
    ]


# -- what a run's end reports -----------------------------------------------------------


def test_a_failed_run_is_reported_once_however_its_results_arrive(world: World) -> None:
    register(world)
    world.clock.current = at(1)
    outcome = world.trigger(world.event())
    world.drain_publishers()
    every = {"a-0", "a-1", "a-2"}
    sent = list(world.sink.envelopes)
    world.finish_jobs(fail=every, drop={"a-2"})
    for _ in range(2):  # two of them again, in another batch; and all once more, after the end
        world.sink.envelopes[:] = sent
        world.finish_jobs(fail=every)
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and run.state is RunState.FAILED
    [event] = events(world)
    assert (event.kind, event.run_id, event.attempt) == (EventKind.FAILED, run.run_id, 1)
    assert [e.job_id for e in event.errors] == ["a-0", "a-1", "a-2"]
    assert all(e.error for e in event.errors)
    assert event.detail == "3 failed, 0 lost of 3"
    world.redrive(run.run_id)  # a new attempt that fails again is a new event
    world.drain_publishers()
    world.finish_jobs(fail=every)
    assert [(e.kind, e.attempt) for e in events(world)] == [
        (EventKind.FAILED, 1),
        (EventKind.FAILED, 2),
    ]


def test_failures_within_the_tolerance_are_not_reported(world: World) -> None:
    register(world, controls=Controls(tolerated_failures=parse_tolerance("1")))
    world.clock.current = at(1)
    outcome = world.trigger(world.event())
    world.drain_publishers()
    world.finish_jobs(fail={"a-1"})
    assert world.ledger.get_run(outcome.run_id).state is RunState.SUCCEEDED  # type: ignore[union-attr]
    assert events(world) == []


def test_a_run_past_its_deadline_is_reported_stuck_then_lost(world: World) -> None:
    register(world)
    world.clock.current = at(1)
    outcome = world.trigger(world.event())
    world.invoker.take()  # its publishers never run
    run = world.ledger.get_run(outcome.run_id)
    assert run is not None and run.deadline is not None
    world.clock.current = run.deadline + timedelta(seconds=1)
    assert [a.action for a in world.sweep()] == ["resent"]
    assert [e.kind for e in events(world)] == [EventKind.STUCK]
    world.invoker.take()
    again = world.ledger.get_run(outcome.run_id)
    assert again is not None and again.deadline is not None
    world.clock.current = again.deadline + timedelta(seconds=1)
    assert [a.action for a in world.sweep()] == ["lost"]
    kinds = sorted(e.kind for e in events(world))
    assert kinds == sorted([EventKind.STUCK, EventKind.FAILED, EventKind.LOST])
    lost = next(e for e in events(world) if e.kind is EventKind.LOST)
    assert len(lost.errors) == 3 and lost.errors[0].error.startswith("lost:")


def test_one_groups_failure_does_not_hide_the_others_slots(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(world)
    world.register({"a": 1}, group="broken", schedule=parse_schedule("0 * * * *"))
    load = world.registry.load_manifest

    def failing(group: str, version: int | None = None) -> Any:
        if group == "broken":
            raise ConnectionError("injected: the registry did not answer")
        return load(group, version)

    monkeypatch.setattr(world.registry, "load_manifest", failing)
    assert check(world, at(1, 6)) == ["g.20261122T010000Z"]
    monkeypatch.setattr(world.registry, "load_manifest", load)
    assert check(world, at(1, 7)) == ["broken.20261122T010000Z"]  # its turn comes after


def test_a_new_version_s_schedule_is_the_one_checked(world: World) -> None:
    register(world)
    assert check(world, at(1, 6)) == ["g.20261122T010000Z"]  # version 1 read and kept
    world.clock.current = at(1, 10)
    register(world, "30 * * * *")  # version 2: on the half hour
    assert check(world, at(1, 36)) == ["g.20261122T013000Z"]
    assert check(world, at(2, 6)) == []  # 02:00 is no slot of version 2
