"""The monthly cost estimate: counts from the group's shape, prices from the dated table."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bridge.cli.app import run_app
from bridge.domain.controls import Controls
from bridge.domain.cost import (
    PRICES,
    WorkerProfile,
    estimate,
    orchestration_per_million,
    publisher_units,
    receives_per_result,
)
from bridge.domain.groups import GroupManifest, ListManifest, plan_parts
from tests.conftest import numbered_jobs, write_jobs


def manifest(*lists: int) -> GroupManifest:
    return GroupManifest(
        group="nightly",
        version=1,
        target="lambda:worker",
        controls=Controls(),
        lists=tuple(ListManifest(f"l{i}", plan_parts(n)) for i, n in enumerate(lists)),
        created_at="2026-11-22T03:00:00.000Z",
    )


@pytest.mark.parametrize(
    ("jobs", "units"),
    [(1, 1), (1000, 1), (1001, 3), (10_000, 11), (25_000, 36), (100_000, 111)],
)
def test_every_node_of_the_tree_is_one_publisher_invocation(jobs: int, units: int) -> None:
    assert publisher_units(manifest(jobs)) == units


def test_lines_follow_the_group_shape_and_the_price_table() -> None:
    result = estimate(manifest(25_000, 5), runs_per_day=10, worker=WorkerProfile(0.25, 0.5))
    runs = 10 * 30.4
    assert result.jobs_per_run == 25_005 and result.publishers_per_run == 37
    lines = {line.what: line for line in result.approaches["cronbridge"]}
    requests = lines["Lambda requests: dispatcher, publishers, recorder"]
    assert requests.count == pytest.approx((1 + 37 + 26) * runs)  # recorder: a batch per 1,000
    assert requests.usd == pytest.approx(requests.count * PRICES["lambda_request"])
    writes = lines["DynamoDB writes: run, parts, result chunks"]
    assert writes.count == pytest.approx((8 + 2 * 37 + 0.12 * 25_005) * runs)
    # 1,000 workers of 250 ms: 4,000 results a second, a full receive per 10 results.
    sqs = lines["SQS requests: results queue (at ~4,000 results/s)"]
    assert sqs.count == pytest.approx(25_005 * 1.2 * runs)
    worker = lines["worker GB-seconds"]
    assert worker.count == pytest.approx(25_005 * 0.25 * 0.5 * runs)
    # The workers' own cost is the same whatever orchestrates them.
    for approach in ("step-functions-standard", "step-functions-distributed-map"):
        theirs = {line.what: line for line in result.approaches[approach]}
        assert theirs["worker GB-seconds"] == worker
    standard = result.approaches["step-functions-standard"][0]
    assert standard.usd == pytest.approx((4 + 2 * 25_005) * runs * 0.025 / 1000)


def test_the_command_prices_a_registered_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2500))
    assert (
        run_app(
            [
                "groups",
                "register",
                "nightly",
                "--target",
                "python:publishers.examples:echo",
                "--list",
                f"a={listed}",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert run_app(["cost", "nightly", "--runs-per-day", "24", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["jobs_per_run"] == 2500 and report["publishers_per_run"] == 4
    assert set(report["monthly_usd"]) == {
        "cronbridge",
        "step-functions-standard",
        "step-functions-distributed-map",
    }
    assert (
        report["monthly_usd"]["step-functions-standard"] > report["monthly_usd"]["cronbridge"] > 0
    )
    assert run_app(["cost", "nightly", "--runs-per-day", "24"]) == 0
    shown = capsys.readouterr().out
    assert "2,500 jobs a run" in shown and "Distributed Map" in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runs-per-day", "0"], "--runs-per-day must be more than 0"),
        (["--runs-per-day", "1", "--worker-mb", "64"], "--worker-mb 128 to 10240"),
    ],
)
def test_impossible_inputs_get_one_clear_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_app(["cost", "nightly", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_unknown_group_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["cost", "nope", "--runs-per-day", "1"]) == 2
    assert "group 'nope' is not registered" in capsys.readouterr().err


def test_the_results_queue_costs_more_per_job_when_results_trickle() -> None:
    assert receives_per_result(10_000) == pytest.approx(0.1)
    assert receives_per_result(100) == 1.0
    busy, trickle = orchestration_per_million(10_000), orchestration_per_million(100)
    assert sum(busy.values()) < 0.60 < sum(trickle.values())
    assert busy["sqs"] == pytest.approx(1.2 * 0.40)  # send, receive, delete per result


def test_pacing_is_priced_as_the_wakes_of_its_lanes() -> None:
    paced = replace(manifest(100_000), controls=Controls(max_rate=10))
    assert publisher_units(paced) == 10_000  # one lane, 10 jobs a wake
    result = estimate(paced, runs_per_day=1)
    lines = {line.what: line for line in result.approaches["cronbridge"]}
    waits = lines["SQS requests: a paced run's lanes waiting between wakes (send, receive, delete)"]
    assert waits.count == pytest.approx(30_000 * 30.4)
    unpaced = {line.what: line for line in estimate(manifest(100_000), 1).approaches["cronbridge"]}
    assert (
        unpaced[
            "SQS requests: a paced run's lanes waiting between wakes (send, receive, delete)"
        ].count
        == 0
    )
