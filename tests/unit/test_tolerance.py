"""Tolerated failures: what `--tolerated-failures` reads, and the run's end it decides.

As Step Functions' ToleratedFailureCount and ToleratedFailurePercentage: a run fails
when its failed and lost jobs EXCEED the tolerance; equal to it still succeeds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.controls import Controls
from bridge.domain.runs import Run, RunState, final_state
from bridge.domain.tolerance import NO_TOLERANCE, Tolerance, parse_tolerance, tolerance_from_json
from bridge.exceptions import InvalidInput

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def test_a_count_or_a_percentage_is_read() -> None:
    read = {
        text: parse_tolerance(text) for text in ("0", "3", " 12 ", "2.5%", "0%", "100%", ".5 %")
    }
    assert read == {
        "0": Tolerance(),
        "3": Tolerance(count=3),
        " 12 ": Tolerance(count=12),
        "2.5%": Tolerance(percent=2.5),
        "0%": Tolerance(percent=0.0),
        "100%": Tolerance(percent=100.0),
        ".5 %": Tolerance(percent=0.5),
    }


#: what people mistype, and what the one message says of it
BAD = {
    "-1": "must be 0 or more, not -1",
    "-0.5%": "must be 0 or more, not -0.5%",
    "100.5%": "must be a percentage from 0% to 100%, not 100.5%",
    "250%": "not 250%",
    "2.5": "must be a whole number of jobs, not 2.5",
    "five": "must be a number of jobs or a percentage, not 'five'",
    "": "not ''",
    "%": "not '%'",
    "nan%": "not 'nan%'",
    "inf": "not 'inf'",
    "3%%": "not '3%%'",
}


def test_bad_input_is_one_message_with_a_hint_giving_a_valid_example() -> None:
    for text, message in BAD.items():
        try:
            parse_tolerance(text)
        except InvalidInput as error:
            assert message in error.message, text
            assert "--tolerated-failures 2.5%" in (error.hint or ""), text
        else:
            raise AssertionError(f"{text!r} was read")


@given(st.integers(min_value=0, max_value=10**12))
def test_a_count_reads_back_as_it_is_written(count: int) -> None:
    assert parse_tolerance(str(Tolerance(count=count))) == Tolerance(count=count)


@given(st.floats(min_value=0, max_value=100))
def test_a_percentage_reads_back_as_it_is_written(percent: float) -> None:
    tolerance = Tolerance(percent=percent)
    assert parse_tolerance(str(tolerance)) == tolerance
    assert str(tolerance).endswith("%") and ".0%" not in str(tolerance)


def test_a_count_tolerates_up_to_and_including_itself() -> None:
    three = Tolerance(count=3)
    assert three.allows(3, 10) and not three.allows(4, 10)
    assert NO_TOLERANCE.allows(0, 10) and not NO_TOLERANCE.allows(1, 10)


def test_a_percentage_is_of_all_the_runs_jobs_and_exact_at_its_boundary() -> None:
    assert Tolerance(percent=20).allows(2, 10) and not Tolerance(percent=20).allows(3, 10)
    # 0.3% of 1,000 is 3 jobs exactly: in floats 0.3 * 1000 / 100 is a hair under 3.
    assert Tolerance(percent=0.3).allows(3, 1000) and not Tolerance(percent=0.3).allows(4, 1000)
    assert Tolerance(percent=2.5).allows(1, 40) and not Tolerance(percent=2.5).allows(2, 40)
    assert Tolerance(percent=100).allows(7, 7)
    assert not Tolerance(percent=0).allows(1, 10**6)


def test_the_end_state_at_the_boundary() -> None:
    two = Tolerance(count=2)
    assert final_state(10, 8, 2, tolerance=two) is RunState.SUCCEEDED
    assert final_state(10, 8, 1, 1, tolerance=two) is RunState.SUCCEEDED  # lost jobs count
    assert final_state(10, 7, 2, 1, tolerance=two) is RunState.FAILED  # one more
    assert final_state(10, 7, 2, tolerance=two) is None  # not every job has a result yet
    assert final_state(10, 9, 1) is RunState.FAILED  # no tolerance: any one fails it


def test_controls_keep_it_as_the_option_reads_and_older_groups_tolerate_none() -> None:
    controls = Controls(tolerated_failures=Tolerance(percent=2.5))
    data = controls.to_dict()
    assert data["tolerated_failures"] == "2.5%"
    assert Controls.from_dict(data) == controls
    older = {k: v for k, v in Controls().to_dict().items() if k != "tolerated_failures"}
    assert Controls.from_dict(older).tolerated_failures == NO_TOLERANCE
    assert Controls.from_dict({**older, "tolerated_failures": 4}).tolerated_failures == Tolerance(
        count=4
    )
    assert tolerance_from_json(None) == tolerance_from_json("") == NO_TOLERANCE
    with pytest.raises(InvalidInput):
        Controls.from_dict({**older, "tolerated_failures": "-3"})


def test_a_succeeded_run_names_the_failures_it_tolerated_and_can_be_redriven() -> None:
    run = Run("g.r", "g", 1, RunState.SUCCEEDED, 100, T0, T0, succeeded=96, failed=3, lost=1)
    assert run.state_label == "succeeded (3 failed, 1 lost, tolerated)"
    assert replace(run, lost=0, succeeded=97).state_label == "succeeded (3 failed, tolerated)"
    assert run.redrivable
    clean = replace(run, succeeded=100, failed=0, lost=0)
    assert clean.state_label == "succeeded" and not clean.redrivable
    failed = replace(run, state=RunState.FAILED)
    assert failed.state_label == "failed" and failed.redrivable
    assert not replace(run, state=RunState.CANCELLED).redrivable
    assert run.to_dict()["state"] == "succeeded"  # scripts read the state and the counts
    assert (run.to_dict()["failed"], run.to_dict()["lost"]) == (3, 1)
