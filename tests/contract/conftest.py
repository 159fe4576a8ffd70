"""One contract suite, two adapter families: every test here runs against the local
adapters (files, SQLite) and the AWS ones (S3, DynamoDB) on moto in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from bridge.aws.ledger import DynamoLedger, table_definition
from bridge.aws.registry import S3Registry
from bridge.local.home import Home
from bridge.local.ledger import SqliteLedger
from bridge.local.registry import FileRegistry

STATE_BUCKET = "cronbridge-state-test"
TABLE = "cronbridge-ledger-test"


@pytest.fixture(params=["local", "aws"])
def family(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ledger(family: str, home: Home, request: pytest.FixtureRequest) -> Iterator[Any]:
    if family == "local":
        store = SqliteLedger(home.ledger_path)
        yield store
        store.close()
        return
    request.getfixturevalue("aws")
    client = boto3.client("dynamodb")
    client.create_table(**table_definition(TABLE))
    yield DynamoLedger(client, TABLE)


@pytest.fixture
def registry(family: str, home: Home, request: pytest.FixtureRequest) -> Any:
    if family == "local":
        return FileRegistry(home.state_dir)
    request.getfixturevalue("aws")
    client = boto3.client("s3")
    client.create_bucket(Bucket=STATE_BUCKET)
    return S3Registry(client, STATE_BUCKET)


# Concurrency tests use these, the local family only: moto's DynamoDB is not atomic
# under concurrent threads, so it cannot show what a real table would do.
@pytest.fixture
def sqlite_ledger(home: Home) -> Iterator[SqliteLedger]:
    store = SqliteLedger(home.ledger_path)
    yield store
    store.close()


@pytest.fixture
def file_registry(home: Home) -> FileRegistry:
    return FileRegistry(home.state_dir)


def snapshot(registry: Any) -> dict[str, bytes]:
    """Every stored object, by key: to show that a failed operation changed nothing."""
    if isinstance(registry, FileRegistry):
        root: Path = registry.root
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"
        }
    s3 = boto3.client("s3")
    objects = s3.list_objects_v2(Bucket=registry.bucket).get("Contents", [])
    return {
        o["Key"]: s3.get_object(Bucket=registry.bucket, Key=o["Key"])["Body"].read()
        for o in objects
    }
