"""What only the DynamoDB ledger has: results written and counted in two steps."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3

from bridge.aws.ledger import DynamoLedger, table_definition
from bridge.domain.results import JobRef, JobResult, JobStatus
from bridge.domain.runs import Run, RunState

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def result(job: str) -> JobResult:
    return JobResult(JobRef("g.r", "g", "a", job, "t", 1), JobStatus.SUCCEEDED, 1, T0)


def test_a_result_stored_but_not_counted_is_counted_by_the_redelivery(aws: None) -> None:
    client = boto3.client("dynamodb")
    client.create_table(**table_definition("ledger"))
    ledger = DynamoLedger(client, "ledger")
    ledger.open_run(Run("g.r", "g", 1, RunState.RUNNING, 2, T0, T0), previous=None, cancel=None)
    ledger.record_result(result("j1"))
    # A recorder that stopped after storing j2's result, before counting it:
    client.put_item(
        TableName="ledger",
        Item={
            "pk": {"S": "run#g.r"},
            "sk": {"S": "job#j2"},
            "list": {"S": "a"},
            "scheduled": {"S": "t"},
            "status": {"S": "succeeded"},
            "attempt": {"N": "1"},
            "tries": {"N": "1"},
            "error": {"S": ""},
            "finished_at": {"S": "2026-11-22T03:00:05.000Z"},
            "counted": {"BOOL": False},
        },
    )
    run = ledger.get_run("g.r")
    assert run is not None and (run.succeeded, run.state) == (1, RunState.RUNNING)
    assert ledger.record_result(result("j2"))  # Lambda delivers the record again
    assert not ledger.record_result(result("j2"))  # and once more: now a plain duplicate
    run = ledger.get_run("g.r")
    assert run is not None and (run.succeeded, run.state) == (2, RunState.SUCCEEDED)
    assert run.finished_at == datetime(2026, 11, 22, 3, 0, 5, tzinfo=UTC)


def test_an_over_count_never_ends_a_run_early(aws: None) -> None:
    client = boto3.client("dynamodb")
    client.create_table(**table_definition("ledger"))
    ledger = DynamoLedger(client, "ledger")
    ledger.open_run(Run("g.r", "g", 1, RunState.RUNNING, 3, T0, T0), previous=None, cancel=None)
    ledger.record_result(result("j1"))
    # A recorder that counted j1 twice (stopped after counting, before marking it):
    client.update_item(
        TableName="ledger",
        Key={"pk": {"S": "run#g.r"}, "sk": {"S": "run"}},
        UpdateExpression="ADD succeeded :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    ledger.record_result(result("j2"))  # counters say 3 of 3; the recount says 2
    run = ledger.get_run("g.r")
    assert run is not None and run.state is RunState.RUNNING
    ledger.record_result(result("j3"))
    run = ledger.get_run("g.r")
    assert run is not None and (run.state, run.succeeded) == (RunState.SUCCEEDED, 3)
