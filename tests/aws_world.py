"""An AWS account on moto, in-process, with the Lambda service faked: the handlers run
for real against S3 and DynamoDB, and what they would invoke is recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from bridge.aws.ledger import table_definition
from bridge.aws.runtime import AwsRuntime, AwsSettings
from bridge.domain.controls import Controls
from bridge.usecases.register import ListSource, register_group
from tests.conftest import FakeClock, numbered_jobs, write_jobs
from tests.fakes import RecordingInvoker, RecordingSink

EVENTS = Path(__file__).parent / "events"
SETTINGS = AwsSettings(
    state_bucket="cronbridge-state-test",
    trigger_bucket="cronbridge-triggers-test",
    ledger_table="cronbridge-ledger-test",
    publisher_function="cronbridge-publisher",
    region="us-east-1",
)


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def make_account(clock: FakeClock) -> AwsRuntime:
    """Buckets and table as Terraform makes them; a runtime with a recording invoker."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=SETTINGS.state_bucket)
    s3.create_bucket(Bucket=SETTINGS.trigger_bucket)
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        **table_definition(SETTINGS.ledger_table)
    )
    runtime = AwsRuntime(SETTINGS, clock=clock, threads=4)
    runtime.publishers = RecordingInvoker()
    return runtime


def register(
    runtime: AwsRuntime,
    tmp: Path,
    group: str,
    lists: dict[str, int],
    target: str = "lambda:worker",
    controls: Controls | None = None,
) -> None:
    sources = [
        ListSource.from_path(
            name, write_jobs(tmp / f"{group}-{name}.jsonl", numbered_jobs(name, count))
        )
        for name, count in lists.items()
    ]
    register_group(
        group,
        target,
        sources,
        controls or Controls(),
        registry=runtime.registry,
        clock=runtime.clock,
        check_target=lambda target, controls: None,
    )


def put_trigger(runtime: AwsRuntime, key: str, body: bytes = b"") -> None:
    runtime.s3.put_object(Bucket=SETTINGS.trigger_bucket, Key=key, Body=body)


__all__ = ["SETTINGS", "RecordingSink", "load_event", "make_account", "put_trigger", "register"]
