from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.controls import Controls, Overlap
from bridge.domain.groups import (
    MAX_JOB_BYTES,
    PART_SIZE,
    GroupManifest,
    Job,
    JobListChecker,
    ListManifest,
    decode_job,
    encode_job,
    plan_parts,
)
from bridge.exceptions import InvalidInput
from tests.conftest import fuzz


def check(lists: dict[str, list[str]]) -> tuple[dict[str, list[Job]], JobListChecker]:
    checker = JobListChecker()
    jobs = {name: list(checker.check_list(name, lines)) for name, lines in lists.items()}
    return jobs, checker


def test_good_lines_become_jobs_and_blank_lines_are_skipped() -> None:
    jobs, checker = check({"a": ['{"id": "1", "payload": {"x": 1}}', "", '{"id": "2"}']})
    assert checker.problems == []
    assert jobs["a"] == [Job("1", {"x": 1}), Job("2", None)]


def test_every_bad_line_is_reported_with_its_list_and_number() -> None:
    big = json.dumps({"id": "big", "payload": "x" * MAX_JOB_BYTES})
    _, checker = check(
        {
            "a": [
                '{"id": "1"}',
                "not json",
                "[1]",
                '{"id": ""}',
                '{"id": 5}',
                '{"id": "' + "x" * 129 + '"}',
                '{"id": "ok", "paylod": 1}',
                big,
                '{"id": "tab\\tid"}',
            ],
            "b": ['{"id": "1"}', '{"id": "fine"}'],
        }
    )
    found = {(p.list_name, p.line): p.problem for p in checker.problems}
    assert sorted(found) == [("a", n) for n in range(2, 10)] + [("b", 1)]
    assert "not JSON" in found[("a", 2)]
    assert "JSON object" in found[("a", 3)]
    assert "non-empty string" in found[("a", 4)] and "non-empty string" in found[("a", 5)]
    assert "128" in found[("a", 6)]
    assert "'paylod'" in found[("a", 7)]
    assert "KiB" in found[("a", 8)]
    assert "control" in found[("a", 9)]
    assert "duplicate job id '1' (first at list 'a' line 1)" in found[("b", 1)]
    assert str(checker.problems[0]) == "list 'a' line 2: " + found[("a", 2)]


def test_an_empty_list_is_a_problem() -> None:
    _, checker = check({"a": ["", "  "]})
    assert [(p.list_name, p.line) for p in checker.problems] == [("a", 0)]


def test_job_at_the_size_limit_is_accepted() -> None:
    filler = MAX_JOB_BYTES - len(encode_job(Job("j", "")))
    line = encode_job(Job("j", "x" * filler))
    assert len(line) == MAX_JOB_BYTES
    _, checker = check({"a": [line]})
    assert checker.problems == []


@given(st.integers(min_value=0, max_value=10 * PART_SIZE + 7))
def test_parts_hold_every_job_and_none_is_over_the_size(count: int) -> None:
    parts = plan_parts(count)
    assert sum(parts) == count
    assert all(0 < p <= PART_SIZE for p in parts)
    assert all(p == PART_SIZE for p in parts[:-1])


@given(
    st.text(max_size=50), st.recursive(st.none() | st.integers() | st.text(), lambda c: st.lists(c))
)
def test_jobs_round_trip_through_their_line(job_id: str, payload: object) -> None:
    job = Job(job_id, payload)
    assert decode_job(encode_job(job)) == job


@fuzz
@given(st.lists(st.text(max_size=30), max_size=20))
def test_checker_never_crashes_on_arbitrary_lines(lines: list[str]) -> None:
    jobs, checker = check({"a": lines})
    assert len(jobs["a"]) + len(checker.problems) >= 1
    assert all(p.line >= 0 for p in checker.problems)


def test_manifest_round_trips_and_counts() -> None:
    manifest = GroupManifest(
        group="g",
        version=3,
        target="python:m:f",
        controls=Controls(max_rate=5, overlap=Overlap.REPLACE, min_interval=60),
        lists=(ListManifest("a", (1000, 5)), ListManifest("b", (7,))),
        created_at="2026-11-22T03:00:00.000Z",
    )
    assert manifest.total_jobs == 1012
    assert GroupManifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest
    assert manifest.job_list("b").jobs == 7
    with pytest.raises(InvalidInput):
        manifest.job_list("c")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"max_rate": 0}, "max_rate"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_attempts": 4}, "between 1 and 3"),
        ({"max_attempts": 0}, "between 1 and 3"),
        ({"timeout": 901}, "900"),
        ({"min_interval": -1}, "min_interval"),
    ],
)
def test_controls_reject_impossible_values(kwargs: dict[str, float], words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        Controls(**kwargs)  # type: ignore[arg-type]


def test_controls_reject_unknown_overlap() -> None:
    with pytest.raises(InvalidInput, match="allow, skip, replace"):
        Controls.from_dict({"overlap": "sometimes"})


def test_a_group_stored_before_durations_were_bounded_still_loads_at_the_bound() -> None:
    stored = {"max_lateness": 99999999999 * 86400.0, "min_interval": 60.0, "overlap": "skip"}
    controls = Controls.from_dict(stored)
    assert (controls.max_lateness, controls.min_interval) == (366 * 86400.0, 60.0)
    with pytest.raises(InvalidInput, match="at most 366 days"):
        Controls(max_lateness=367 * 86400.0)
