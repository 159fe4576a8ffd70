"""The DynamoDB ledger table (DESIGN.md §3.5): its definition, keys, and the calls the
record modules share. One on-demand table, TTL on `expires_at`.

Items (pk, sk):
    run#<run>          run                  the run: state, deadline, exact final counts;
                                            in the `by-group` index (grp, opened_key)
    run#<run>          progress             approximate counters while it runs; no index
    run#<run>          part#<n>#<only>#<list>#<part>   a part whose jobs were all handed over
    run#<run>          send#<n>#<only>#<list>#<part>   which jobs of a part a redrive or
                                                       resend sends
    group#<g>          head                 the group's latest opened run
    open               <run>                a running run, for the deadline's sweep
    res#<run>#<shard>  <chunk key>          up to CHUNK_BYTES of results, spread over
                                            SHARDS keys (bridge.domain.chunks)
    claim#<run>#<job>  claim                the worker helper's claim (publishers.worker)

A run's writes while it goes are its result chunks (spread over 16 keys), one progress
update per chunk group and a marker per 1,000 jobs: no key takes a large share, and
the `by-group` index is written only when a run changes state.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from bridge.domain.runs import Progress

__all__ = [
    "BATCH_WRITE",
    "GROUP_INDEX",
    "LAYOUT",
    "RETENTION_DAYS",
    "DynamoTable",
    "code",
    "item",
    "plain",
    "progress_from_item",
    "table_definition",
]

RETENTION_DAYS = 90
GROUP_INDEX = "by-group"
#: the layout version, kept on every run item; `cronbridge doctor` finds runs of older ones
LAYOUT = 2
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
_CONFLICT_TRIES = 8
_BATCH_WRITE_TRIES = 10
#: BatchWriteItem's limit
BATCH_WRITE = 25


def table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments, the same that Terraform declares."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "grp", "AttributeType": "S"},
            {"AttributeName": "opened_key", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GROUP_INDEX,
                "KeySchema": [
                    {"AttributeName": "grp", "KeyType": "HASH"},
                    {"AttributeName": "opened_key", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


def run_key(run_id: str) -> dict[str, str]:
    return {"pk": f"run#{run_id}", "sk": "run"}


def progress_key(run_id: str) -> dict[str, str]:
    return {"pk": f"run#{run_id}", "sk": "progress"}


def head_key(group: str) -> dict[str, str]:
    return {"pk": f"group#{group}", "sk": "head"}


def open_key(run_id: str) -> dict[str, str]:
    return {"pk": "open", "sk": run_id}


def item(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _SERIALIZER.serialize(value) for key, value in data.items()}


def plain(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _DESERIALIZER.deserialize(value) for key, value in data.items()}


def progress_from_item(data: Mapping[str, Any]) -> Progress:
    return Progress(
        dispatched=int(data.get("dispatched", 0)),
        succeeded=int(data.get("succeeded", 0)),
        failed=int(data.get("failed", 0)),
        lost=int(data.get("lost", 0)),
        checked=int(data.get("checked", 0)),
        missing=int(data.get("missing", 0)),
    )


def code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class DynamoTable:
    """The client, the table's name, and the calls every kind of record makes."""

    def __init__(self, client: Any, table: str, *, retention_days: int = RETENTION_DAYS) -> None:
        self._db = client
        self._table = table
        self._retention = retention_days * 86400

    def _expiry(self) -> int:
        return int(time.time()) + self._retention

    def _get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        response = self._db.get_item(TableName=self._table, Key=item(key), ConsistentRead=True)
        found = response.get("Item")
        return None if found is None else plain(found)

    def _put_if_new(self, data: Mapping[str, Any]) -> bool:
        try:
            self._db.put_item(
                TableName=self._table,
                Item=item(data),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _update_if(
        self,
        key: Mapping[str, str],
        update: str,
        condition: str,
        values: Mapping[str, Any],
        *,
        names: Mapping[str, str] | None = None,
    ) -> bool:
        extra = {"ExpressionAttributeNames": dict(names)} if names else {}
        try:
            self._db.update_item(
                TableName=self._table,
                Key=item(key),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=item(values),
                **extra,
            )
        except ClientError as exc:
            if code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _transact(self, actions: list[dict[str, Any]]) -> list[bool] | None:
        """None if every action was written; else which conditions failed.

        A conflict with another transaction on the same item (several recorders adding
        to one run's progress) is tried again after a jittered pause.
        """
        for attempt in range(_CONFLICT_TRIES):
            try:
                self._db.transact_write_items(TransactItems=actions)
            except ClientError as exc:
                if code(exc) != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                failed = [r.get("Code") == "ConditionalCheckFailed" for r in reasons]
                if any(failed):
                    return failed
                conflict = any(r.get("Code") == "TransactionConflict" for r in reasons)
                if not conflict or attempt == _CONFLICT_TRIES - 1:
                    raise
                time.sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - jitter
                continue
            return None
        raise AssertionError("unreachable")

    def _write_all(self, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem (at most 25 requests), sending again what DynamoDB left
        unprocessed (throttled)."""
        pending: dict[str, Any] = {self._table: requests}
        for attempt in range(_BATCH_WRITE_TRIES):
            response = self._db.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(min(2.0, 0.05 * 2**attempt))
        raise RuntimeError(f"DynamoDB left {len(pending[self._table])} item(s) unwritten")

    def _query(self, **args: Any) -> Iterator[dict[str, Any]]:
        for page in self._db.get_paginator("query").paginate(TableName=self._table, **args):
            for found in page.get("Items", []):
                yield plain(found)

    def _query_prefix(self, pk: str, prefix: str) -> Iterator[dict[str, Any]]:
        return self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": prefix}},
            ConsistentRead=True,
        )

    def _put_action(self, data: Mapping[str, Any], condition: str | None = None) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self._table, "Item": item(data)}
        if condition:
            put["ConditionExpression"] = condition
        return {"Put": put}

    def _delete_action(self, key: Mapping[str, str]) -> dict[str, Any]:
        return {"Delete": {"TableName": self._table, "Key": item(key)}}
