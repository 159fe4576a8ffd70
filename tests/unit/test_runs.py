from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bridge.domain.controls import Controls, Overlap
from bridge.domain.runs import Run, RunState, check_transition, decide_trigger, final_state
from bridge.domain.triggers import Trigger, TriggerBody

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def trigger(scheduled: datetime | None = T0, arrived: datetime = T0) -> Trigger:
    return Trigger("g", TriggerBody(scheduled_time=scheduled), arrived, identity="x" * 64)


def run(state: RunState = RunState.RUNNING, slot: datetime = T0 - timedelta(minutes=5)) -> Run:
    return Run("g.prev", "g", 1, state, 10, slot_time=slot, opened_at=slot)


def test_first_run_of_a_group_opens() -> None:
    assert decide_trigger(trigger(), Controls(), None, T0).open


@pytest.mark.parametrize(
    ("overlap", "opens", "cancels"),
    [(Overlap.SKIP, False, None), (Overlap.ALLOW, True, None), (Overlap.REPLACE, True, "g.prev")],
)
def test_overlap_while_the_previous_run_is_running(
    overlap: Overlap, opens: bool, cancels: str | None
) -> None:
    decision = decide_trigger(trigger(), Controls(overlap=overlap), run(), T0)
    assert (decision.open, decision.cancel) == (opens, cancels)
    if not opens:
        assert decision.reason == "overlap: run g.prev is still running"


@pytest.mark.parametrize("state", [RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED])
def test_overlap_does_not_apply_once_the_previous_run_ended(state: RunState) -> None:
    assert decide_trigger(trigger(), Controls(overlap=Overlap.SKIP), run(state), T0).open


def test_min_interval_rejects_triggers_too_close_together() -> None:
    controls = Controls(min_interval=600, overlap=Overlap.ALLOW)
    close = decide_trigger(trigger(), controls, run(RunState.SUCCEEDED), T0)
    assert not close.open and close.reason.startswith("min_interval: 5m after run g.prev")
    far = decide_trigger(trigger(), controls, run(slot=T0 - timedelta(minutes=11)), T0)
    assert far.open


def test_max_lateness_skips_old_scheduled_triggers_but_never_manual_ones() -> None:
    controls = Controls(max_lateness=60)
    late = decide_trigger(trigger(scheduled=T0), controls, None, T0 + timedelta(seconds=61))
    assert not late.open and late.reason.startswith("late: scheduled 61s ago")
    assert decide_trigger(trigger(scheduled=T0), controls, None, T0 + timedelta(seconds=60)).open
    manual = trigger(scheduled=None, arrived=T0)
    assert decide_trigger(manual, controls, None, T0 + timedelta(hours=5)).open


def test_completion_rule() -> None:
    assert final_state(10, 9, 0) is None
    assert final_state(10, 10, 0) is RunState.SUCCEEDED
    assert final_state(10, 7, 3) is RunState.FAILED
    assert final_state(1, 0, 1) is RunState.FAILED
    assert final_state(10, 9, 0, 1) is RunState.FAILED  # a lost job fails the run
    assert final_state(10, 8, 0, 1) is None


@pytest.mark.parametrize("overlap", [Overlap.SKIP, Overlap.ALLOW])
def test_a_run_past_its_deadline_never_silences_its_group(overlap: Overlap) -> None:
    stuck = replace(run(), deadline=T0 - timedelta(seconds=1))
    decision = decide_trigger(trigger(), Controls(overlap=overlap), stuck, T0)
    assert decision.open and decision.cancel is None
    in_time = replace(run(), deadline=T0 + timedelta(seconds=1))
    assert decide_trigger(trigger(), Controls(overlap=overlap), in_time, T0).open is (
        overlap is Overlap.ALLOW
    )


def test_a_run_whose_lost_jobs_are_being_resent_no_longer_holds_its_group() -> None:
    resending = replace(run(), deadline=T0 + timedelta(hours=6), resent=1)
    assert decide_trigger(trigger(), Controls(overlap=Overlap.SKIP), resending, T0).open


def test_replace_cancels_a_run_past_its_deadline_too() -> None:
    stuck = replace(run(), deadline=T0 - timedelta(seconds=1))
    decision = decide_trigger(trigger(), Controls(overlap=Overlap.REPLACE), stuck, T0)
    assert decision.open and decision.cancel == "g.prev"


def test_state_machine_allows_only_real_transitions() -> None:
    check_transition(RunState.RUNNING, RunState.SUCCEEDED)
    check_transition(RunState.FAILED, RunState.RUNNING)  # redriven
    check_transition(RunState.CANCELLED, RunState.RUNNING)  # resumed
    check_transition(RunState.SUCCEEDED, RunState.RUNNING)  # its tolerated failures redriven
    for current, new in [
        (RunState.SUCCEEDED, RunState.CANCELLED),
        (RunState.SKIPPED, RunState.RUNNING),
        (RunState.RUNNING, RunState.SKIPPED),
    ]:
        with pytest.raises(ValueError, match="cannot become"):
            check_transition(current, new)
    assert RunState.SKIPPED.finished and not RunState.RUNNING.finished


def test_run_dict_shows_scheduled_time_only_for_scheduled_runs() -> None:
    manual = run()
    assert manual.to_dict()["scheduled_time"] is None
    assert replace(manual, scheduled=True).to_dict()["scheduled_time"] == "2026-11-22T02:55:00.000Z"
