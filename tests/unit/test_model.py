"""The cloud model's mechanics on cases small enough to work out by hand (virtual time),
and the limits it must respect."""

from __future__ import annotations

import pytest

from bench.model import (
    Function,
    Limits,
    Measured,
    Scenario,
    Setup,
    model,
    pool_run,
    simulate_cronbridge,
    simulate_single_publisher,
)


def test_a_function_grows_by_steps_up_to_the_account() -> None:
    function = Function(Limits(scale_step=1000, scale_seconds=10), account=2500)
    assert [function.limit(t) for t in (0, 9.9, 10, 25, 1000)] == [1000, 1000, 2000, 2500, 2500]


def test_jobs_wait_for_a_free_environment_or_the_next_step() -> None:
    limits = Limits(scale_step=1, scale_seconds=10)
    # One at a time until t=10, then two: starts 0, 4, 8, 10, 12; the last ends at 16.
    invoked, done, _ = pool_run(Scenario(5, 3, job_seconds=4), limits, rate=None)
    assert (invoked, done) == (0.0, 16.0)


def test_recording_at_a_partitions_pace_lags_the_work() -> None:
    scenario = Scenario(10_000, 10_000, job_seconds=1)
    _, done, recorded = pool_run(scenario, Limits(), rate=None, record_rate=1000)
    assert done == 10.0 and recorded >= 10.0  # 10,000 results at 1,000 a second


@pytest.fixture(scope="module")
def figures() -> dict[str, dict[str, dict[str, float]]]:
    return model()["by_scenario"]


def test_the_invoke_quota_bounds_dispatch(figures: dict[str, dict[str, dict[str, float]]]) -> None:
    # 10 x 1,000 invokes a second at most: a million take at least 100 s, whatever CPU.
    assert figures["1000000@1000"]["cronbridge"]["all_dispatched_s"] >= 100
    assert figures["1000000@10000"]["cronbridge"]["all_dispatched_s"] >= 10


def test_a_million_jobs_end_within_a_fifth_of_lambdas_own_bound(
    figures: dict[str, dict[str, dict[str, float]]],
) -> None:
    big = figures["1000000@10000"]["cronbridge"]
    # Lambda's scaling alone: 1,000 more every 10 s up to 10,000, one-second jobs.
    assert big["lambda_scaling_bound_s"] == pytest.approx(145, abs=1)
    assert big["run_ended_s"] <= 1.2 * big["lambda_scaling_bound_s"]
    assert big["results_per_s_ceiling"] >= 10_000


def test_one_partition_caps_a_hand_written_recorder(
    figures: dict[str, dict[str, dict[str, float]]],
) -> None:
    single = figures["1000000@10000"]["single_publisher"]
    assert single["results_per_s_ceiling"] == 1000
    assert single["all_recorded_s"] >= 1000
    assert single["continuations"] == 2  # 1,832 s of invoking: three 15-minute invocations


def test_a_hot_key_slows_the_recorder_as_dynamodb_would() -> None:
    hot = Measured(hottest_key_write_units_per_job=1.0)  # every result on one key
    scenario = Scenario(100_000, 10_000)
    slow = simulate_cronbridge(scenario, hot, Limits(), Setup())
    fast = simulate_cronbridge(scenario, Measured(), Limits(), Setup())
    assert slow["results_per_s_ceiling"] == 1000
    assert slow["all_recorded_s"] >= 100 > fast["all_recorded_s"]


def test_a_small_run_waits_at_most_a_window_for_its_last_results() -> None:
    run = simulate_cronbridge(Scenario(100, 1000), Measured(), Limits(), Setup(results_window=2))
    assert 1 + 2 <= run["all_recorded_s"] <= 1 + 2 + 1


def test_the_hand_written_publisher_is_bound_by_its_cpu() -> None:
    single = simulate_single_publisher(Scenario(10_000, 10_000), Measured(), Limits(), Setup())
    assert single["all_dispatched_s"] == pytest.approx(0.25 + 10_000 * 1832e-6, abs=0.1)
