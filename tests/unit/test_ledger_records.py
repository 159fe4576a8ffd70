"""Result chunks, which result of a job stands, and run deadlines: the pure parts of
the results path (bridge.domain.chunks, .tally, .deadlines)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.chunks import CHUNK_BYTES, SHARDS, decode_chunk, make_chunks
from bridge.domain.controls import Controls
from bridge.domain.deadlines import Timing, attempt_span, run_deadline
from bridge.domain.results import (
    MAX_ERROR_BYTES,
    MAX_OUTPUT_BYTES,
    JobRef,
    JobResult,
    JobStatus,
    bound_output,
    bound_text,
)
from bridge.domain.tally import standing_results, tally
from tests.conftest import fuzz

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
SLOT = "2026-11-22T03:00:00.000Z"


def result(
    job: str,
    status: JobStatus = JobStatus.SUCCEEDED,
    *,
    attempt: int = 1,
    at: float = 0,
    error: str = "",
    output: str | None = None,
    part: int = 0,
    list_name: str = "a",
) -> JobResult:
    return JobResult(
        ref=JobRef("g.r", "g", list_name, job, SLOT, attempt, part),
        status=status,
        tries=1,
        finished_at=T0 + timedelta(seconds=at),
        error=error,
        duration_ms=12.0,
        output=output,
    )


def decode(body: str) -> list[JobResult]:
    return decode_chunk(body, run_id="g.r", group="g", scheduled_time=SLOT)


def test_a_chunk_keeps_every_field_of_its_results() -> None:
    results = [
        result("j1", output='{"n":1}'),
        result("j2", JobStatus.FAILED, at=1.5, error="E: no\\n  File x"),
        result("j3", JobStatus.LOST, attempt=2, part=3, list_name="b"),
    ]
    [chunk] = make_chunks(results)
    assert (chunk.succeeded, chunk.failed, chunk.lost) == (1, 1, 1)
    assert sorted(decode(chunk.body), key=lambda r: r.ref.job_id) == results


def test_the_same_results_make_the_same_chunks_in_any_order() -> None:
    results = [result(f"j{i}", at=i) for i in range(600)]
    first = make_chunks(results)
    again = make_chunks(list(reversed(results)))
    assert [c.key for c in first] == [c.key for c in again]
    assert {c.shard for c in first} <= set(range(SHARDS))


def test_chunks_stay_small_and_a_big_result_sits_alone() -> None:
    small = [result(f"job-{i:06d}") for i in range(1000)]
    big = result("big", JobStatus.FAILED, error="x" * MAX_ERROR_BYTES)
    chunks = make_chunks([*small, big])
    assert all(len(c.body.encode()) <= CHUNK_BYTES for c in chunks if "big" not in c.body)
    assert sum(c.count for c in chunks) == 1001
    # About 40 bytes a success: what makes a write unit carry about 25 results.
    assert len(chunks) <= 8


@fuzz
@given(
    st.lists(
        st.builds(
            result,
            st.text(min_size=1, max_size=128),
            st.sampled_from(list(JobStatus)),
            attempt=st.integers(1, 4),
            at=st.floats(0, 1e6, allow_nan=False),
            error=st.text(max_size=50),
            output=st.none() | st.text(max_size=50),
            part=st.integers(-1, 2000),
            list_name=st.text(min_size=1, max_size=20),
        ),
        max_size=40,
    )
)
def test_any_results_round_trip_through_chunks(results: list[JobResult]) -> None:
    decoded = [r for chunk in make_chunks(results) for r in decode(chunk.body)]
    key = lambda r: (r.ref.list_name, r.ref.job_id, r.ref.attempt, r.status, r.error)  # noqa: E731
    rounded = [
        r.__class__(
            r.ref, r.status, r.tries, _ms(r.finished_at), r.error, 12.0, r.output, r.truncated
        )
        for r in results
    ]
    assert sorted(decoded, key=key) == sorted(rounded, key=key)


def _ms(when: datetime) -> datetime:
    return datetime.fromtimestamp(round(when.timestamp() * 1000) / 1000, UTC)


def test_the_highest_attempt_stands_then_success_then_the_earliest() -> None:
    standing = standing_results(
        [
            result("j1", JobStatus.FAILED, attempt=1),
            result("j1", JobStatus.SUCCEEDED, attempt=2, at=9),
            result("j1", JobStatus.FAILED, attempt=2, at=1),  # a duplicate invocation failed
            result("j2", JobStatus.SUCCEEDED, at=5),
            result("j2", JobStatus.SUCCEEDED, at=3),
            result("j3", JobStatus.LOST),
            result("j3", JobStatus.FAILED, at=7),
        ]
    )
    assert standing["j1"].status is JobStatus.SUCCEEDED and standing["j1"].ref.attempt == 2
    assert standing["j2"].finished_at == T0 + timedelta(seconds=3)
    assert standing["j3"].status is JobStatus.FAILED


def test_a_redriven_job_is_unsettled_until_its_new_attempt_reports() -> None:
    standing = standing_results(
        [result("j1"), result("j2", JobStatus.FAILED), result("j3", JobStatus.LOST)]
    )
    first = tally(standing, total=3, attempt=1)
    assert (first.succeeded, first.failed, first.lost, first.complete) == (1, 1, 1, True)
    second = tally(standing, total=3, attempt=2)  # j2 and j3 were redriven
    assert (second.settled, second.missing, second.complete) == (1, 2, False)
    standing = standing_results([*standing.values(), result("j2", attempt=2)])
    assert tally(standing, total=3, attempt=2).missing == 1


def test_bounds_cut_on_a_character_and_say_so() -> None:
    assert bound_text("é" * 5000).encode() == ("é" * 4096).encode()
    text, cut = bound_output({"x": "y" * MAX_OUTPUT_BYTES})
    assert cut and text is not None and len(text.encode()) == MAX_OUTPUT_BYTES
    assert bound_output({"ok": True}) == ('{"ok":true}', False)
    assert bound_output(None) == (None, False)
    assert json.loads(bound_output([1, 2])[0] or "") == [1, 2]


def test_a_deadline_covers_every_try_the_event_age_and_the_recording() -> None:
    controls = Controls(timeout=300, max_attempts=3)
    timing = Timing(event_age=21600, recording_delay=360)
    assert attempt_span(controls, timing) == 300 * 3 + 60 + 120 + 21600 + 360
    paced = Controls(timeout=300, max_attempts=3, max_rate=10)
    assert run_deadline(T0, paced, 1000, timing) == T0 + timedelta(
        seconds=100 + attempt_span(paced, timing)
    )
    fixed = Controls(deadline=90, max_rate=10)
    assert run_deadline(T0, fixed, 1000, timing) == T0 + timedelta(seconds=90)
