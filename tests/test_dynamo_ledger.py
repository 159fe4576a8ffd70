"""What only the DynamoDB ledger has: chunks spread over partition keys, writes sent
again when DynamoDB leaves them unprocessed, and a run item the counters never touch."""

from __future__ import annotations

import collections
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from bridge.aws.ledger import DynamoLedger, table_definition
from bridge.domain.chunks import SHARDS, make_chunks
from bridge.domain.results import JobRef, JobResult, JobStatus
from bridge.domain.runs import Run, RunState
from bridge.usecases.record import record_results

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def result(job: str, at: int = 0) -> JobResult:
    return JobResult(
        JobRef("g.r", "g", "a", job, "t", 1, 0),
        JobStatus.SUCCEEDED,
        1,
        T0 + timedelta(seconds=at),
    )


def open_ledger(client: Any, total: int) -> DynamoLedger:
    ledger = DynamoLedger(client, "ledger")
    run = Run("g.r", "g", 1, RunState.RUNNING, total, T0, T0, deadline=T0 + timedelta(hours=1))
    ledger.open_run(run, previous=None, cancel=None)
    return ledger


@pytest.fixture
def client(aws: None) -> Any:
    db = boto3.client("dynamodb")
    db.create_table(**table_definition("ledger"))
    return db


def raw_run_item(client: Any) -> dict[str, Any]:
    key = {"pk": {"S": "run#g.r"}, "sk": {"S": "run"}}
    item: dict[str, Any] = client.get_item(TableName="ledger", Key=key)["Item"]
    return item


def test_a_batch_delivered_again_never_ends_a_run_early(client: Any) -> None:
    ledger = open_ledger(client, total=3)
    batch = [result("j1"), result("j2")]
    assert record_results(batch, ledger=ledger).counted == 2
    record_results(batch, ledger=ledger)  # SQS delivers the whole batch again: same chunks
    stored = client.scan(TableName="ledger", ProjectionExpression="pk")["Items"]
    assert sum(i["pk"]["S"].startswith("res#") for i in stored) == 1
    # The same results regrouped (another batch, another chunk) count again while the
    # run goes; the exact recount keeps the run open until j3 really arrives.
    assert record_results([result("j2"), result("j1", at=1)], ledger=ledger).finished == []
    run = ledger.get_run("g.r")
    assert run is not None and run.state is RunState.RUNNING
    assert record_results([result("j3")], ledger=ledger).finished == ["g.r"]
    run = ledger.get_run("g.r")
    assert run is not None and (run.state, run.succeeded) == (RunState.SUCCEEDED, 3)


def test_counters_live_apart_from_the_indexed_run_item(client: Any) -> None:
    ledger = open_ledger(client, total=100)
    before = raw_run_item(client)
    record_results([result(f"j{i}") for i in range(60)], ledger=ledger)
    assert raw_run_item(client) == before, "recording never writes the run item (or its index)"
    run = ledger.get_run("g.r")
    assert run is not None and run.succeeded == 60


def test_chunks_spread_over_many_partition_keys(client: Any) -> None:
    ledger = open_ledger(client, total=20_000)
    for start in range(0, 20_000, 500):
        batch = [result(f"job-{i:06d}") for i in range(start, start + 500)]
        record_results(batch, ledger=ledger)
    items = client.scan(TableName="ledger", ProjectionExpression="pk")["Items"]
    per_key = collections.Counter(i["pk"]["S"] for i in items if i["pk"]["S"].startswith("res#"))
    assert len(per_key) == SHARDS
    assert max(per_key.values()) <= 3 * sum(per_key.values()) / SHARDS


class ThrottledOnce:
    """A DynamoDB client whose first BatchWriteItem leaves its first item unprocessed,
    as DynamoDB does when a partition is throttled."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.left = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        if self.left:
            return self._client.batch_write_item(RequestItems=RequestItems)
        ((table, requests),) = RequestItems.items()
        self.left = 1
        self._client.batch_write_item(RequestItems={table: requests[1:]})
        return {"UnprocessedItems": {table: requests[:1]}}


def test_writes_dynamodb_left_unprocessed_are_sent_again(client: Any) -> None:
    open_ledger(client, total=2)
    flaky = ThrottledOnce(client)
    ledger = DynamoLedger(flaky, "ledger")
    results = [result(f"job-{i:04d}") for i in range(2000)]  # several chunks
    assert ledger.append_results("g.r", make_chunks(results)) == 2000
    assert flaky.left == 1
    run = ledger.get_run("g.r")
    assert run is not None
    assert {r.ref.job_id for r in ledger.stored_results(run)} == {r.ref.job_id for r in results}
