"""The cloud model's mechanics on cases small enough to work out by hand (virtual time)."""

from __future__ import annotations

import pytest

from bench.model import Cloud, model, run_pool, single_arrivals, tree_arrivals


def test_the_limit_grows_by_steps_up_to_the_account() -> None:
    cloud = Cloud(account_concurrency=2500, burst=1000, step=1000, step_seconds=10)
    assert [cloud.limit(t) for t in (0, 9.9, 10, 25, 1000)] == [1000, 1000, 2000, 2500, 2500]


def test_jobs_wait_for_a_free_environment_or_the_next_step() -> None:
    cloud = Cloud(job_seconds=4, account_concurrency=3, burst=1, step=1, step_seconds=10)
    # At most 1 at once until t=10, then 2 until t=20, then 3.
    last_start, last_end = run_pool(cloud, [0.0] * 5)
    # starts: 0, 4, 8, then at 10 the limit is 2: 10 (with 8-12 running), 12
    assert (last_start, last_end) == (12.0, 16.0)


def test_every_job_is_dispatched_once() -> None:
    cloud = Cloud()
    assert len(list(tree_arrivals(cloud, 2500))) == 2500
    assert len(list(single_arrivals(cloud, 2500))) == 2500


def test_the_tree_dispatches_a_million_jobs_before_one_publisher_could() -> None:
    figures = model(Cloud(invoke_cpu_us=1000))["by_jobs"]["1000000"]
    tree, single = figures["cronbridge_tree"], figures["single_publisher"]
    assert tree["all_dispatched_s"] < 5 < 1000 <= single["all_dispatched_s"]
    # Done is bound by Lambda's scaling for everyone: 1M one-second jobs need at least
    # 100 s at 10,000 at once, plus the climb to 10,000.
    for approach in figures.values():
        assert approach["all_done_s"] >= 100 + 45


@pytest.mark.parametrize("jobs", [1, 999, 1001])
def test_small_lists_make_small_trees(jobs: int) -> None:
    assert len(list(tree_arrivals(Cloud(), jobs))) == jobs
