"""The DynamoDB run ledger (DESIGN.md §3.5): one on-demand table, TTL on `expires_at`.

Items (pk, sk):
    run#<run>    run                           the run: state, totals, counters, times
    group#<g>    head                          the group's latest opened run
    run#<run>    part#<attempt>#<list>#<part>  a part whose jobs were all handed over
    run#<run>    job#<job>                     one finished job's result
    run#<run>    redrive#<attempt>#<list>#<job>  a failed job sent again by a redrive

Opening a run is one TransactWriteItems: the run, the group's head and the run it
replaces, all or nothing. A job's result is a conditional PutItem, the exactly-once
gate, followed by an atomic ADD to the run's counters (DESIGN.md §3.3); the result
item's `counted` flag lets a redelivered record finish a count that a stopped
recorder began. When the counters reach the total, an exact recount of the run's
results decides that it ended. A failed condition means "someone did it first",
never an error.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from bridge.domain.results import JobRef, JobResult, JobStatus
from bridge.domain.runs import Run, RunState, final_state
from bridge.domain.triggers import format_time
from bridge.exceptions import Conflict, InvalidInput, RunNotFound
from bridge.ports import OpenOutcome

__all__ = ["RETENTION_DAYS", "DynamoLedger", "table_definition"]

RETENTION_DAYS = 90
GROUP_INDEX = "by-group"
_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


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


class DynamoLedger:
    def __init__(self, client: Any, table: str, *, retention_days: int = RETENTION_DAYS) -> None:
        self._db = client
        self._table = table
        self._retention = retention_days * 86400

    # -- runs --------------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run | None:
        item = self._get(_run_key(run_id))
        return None if item is None else _run_from_item(item)

    def latest_run(self, group: str) -> Run | None:
        head = self._get(_head_key(group))
        return None if head is None else self.get_run(head["run_id"])

    def open_run(self, run: Run, *, previous: str | None, cancel: str | None) -> OpenOutcome:
        head_condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if previous is None
            else {
                "ConditionExpression": "run_id = :previous",
                "ExpressionAttributeValues": _item({":previous": previous}),
            }
        )
        actions: list[dict[str, Any]] = [
            self._put(self._run_item(run), "attribute_not_exists(pk)"),
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _item({**_head_key(run.group), "run_id": run.run_id}),
                    **head_condition,
                }
            },
        ]
        if cancel is not None:
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _item(_run_key(cancel)),
                        "UpdateExpression": "SET #state = :cancelled, reason = :reason, finished_at = :at",
                        "ConditionExpression": "#state = :running",
                        "ExpressionAttributeNames": {"#state": "state"},
                        "ExpressionAttributeValues": _item(
                            {
                                ":cancelled": RunState.CANCELLED.value,
                                ":running": RunState.RUNNING.value,
                                ":reason": f"replaced by run {run.run_id}",
                                ":at": format_time(run.opened_at),
                            }
                        ),
                    }
                }
            )
        failed = self._transact(actions)
        if failed is None:
            return "opened"
        if failed[0]:
            return "duplicate"
        raise Conflict(f"group {run.group!r} opened another run meanwhile")

    def record_skip(self, run: Run) -> OpenOutcome:
        try:
            self._db.put_item(
                TableName=self._table,
                Item=_item(self._run_item(run)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return "duplicate"
            raise
        return "opened"

    def mark_launched(self, run_id: str, attempt: int) -> None:
        self._update_if(
            _run_key(run_id),
            "SET launched = :attempt",
            "launched < :attempt",
            {":attempt": attempt},
        )

    def list_runs(self, group: str | None, limit: int) -> list[Run]:
        if group is None:
            items = sorted(self._scan_runs(), key=lambda i: str(i["opened_key"]), reverse=True)
            return [_run_from_item(i) for i in items[:limit]]
        response = self._db.query(
            TableName=self._table,
            IndexName=GROUP_INDEX,
            KeyConditionExpression="grp = :group",
            ExpressionAttributeValues=_item({":group": group}),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_run_from_item(_plain(i)) for i in response.get("Items", [])]

    # -- parts -------------------------------------------------------------------------

    def part_dispatched(self, run_id: str, list_name: str, part: int, attempt: int) -> bool:
        return self._get(_part_key(run_id, list_name, part, attempt)) is not None

    def mark_part_dispatched(
        self, run_id: str, list_name: str, part: int, attempt: int, jobs: int
    ) -> bool:
        try:
            self._db.put_item(
                TableName=self._table,
                Item=_item(
                    {
                        **_part_key(run_id, list_name, part, attempt),
                        "jobs": jobs,
                        "expires_at": self._expiry(),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        if attempt == 1:
            self._counter(_run_key(run_id), {"dispatched": jobs})  # progress only
        return True

    # -- results -----------------------------------------------------------------------

    def record_result(self, result: JobResult) -> bool:
        ref = result.ref
        ok = result.status is JobStatus.SUCCEEDED
        item: dict[str, Any] = {
            **_job_key(ref.run_id, ref.job_id),
            "list": ref.list_name,
            "scheduled": ref.scheduled_time,
            "status": result.status.value,
            "attempt": ref.attempt,
            "tries": result.tries,
            "error": result.error,
            "finished_at": format_time(result.finished_at),
            "counted": False,
            "expires_at": self._expiry(),
        }
        if result.duration_ms is not None:
            item["duration_ms"] = Decimal(str(round(result.duration_ms, 3)))
        try:
            self._db.put_item(
                TableName=self._table,
                Item=_item(item),
                ConditionExpression="attribute_not_exists(pk) OR (#status = :redrive AND attempt = :attempt)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=_item(
                    {":redrive": JobStatus.REDRIVE.value, ":attempt": ref.attempt}
                ),
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            stored = self._get(_job_key(ref.run_id, ref.job_id))
            unfinished = (
                stored is not None
                and stored.get("counted") is False
                and int(stored["attempt"]) == ref.attempt
                and stored["status"] == result.status.value
            )
            if not unfinished:
                return False  # a duplicate delivery: counted already
            # else: a recorder stopped between storing and counting; count it now.
        run_item = self._counter(
            _run_key(ref.run_id), {"succeeded": int(ok), "failed": int(not ok)}
        )
        self._db.update_item(
            TableName=self._table,
            Key=_item(_job_key(ref.run_id, ref.job_id)),
            UpdateExpression="SET counted = :yes",
            ExpressionAttributeValues=_item({":yes": True}),
        )
        if ref.attempt > 1:
            self._db.delete_item(
                TableName=self._table,
                Key=_item(_redrive_key(ref.run_id, ref.attempt, ref.list_name, ref.job_id)),
            )
        if run_item is not None:
            run = _run_from_item(run_item)
            if run.state is RunState.RUNNING and run.done >= run.total:
                self._finish_if_done(ref.run_id)
        return True

    def begin_redrive(self, run_id: str) -> tuple[Run, dict[str, int]]:
        run = self.get_run(run_id)
        if run is None:
            raise RunNotFound(
                f"run {run_id!r} is not in the ledger", hint="see `cronbridge runs list GROUP`"
            )
        resuming = run.attempt > 1 and run.state is RunState.RUNNING and run.launched < run.attempt
        if not resuming:
            if run.state is not RunState.FAILED:
                raise InvalidInput(
                    f"run {run_id} is {run.state}; only a failed run can be redriven",
                    hint="wait for it to finish" if run.state is RunState.RUNNING else None,
                )
            attempt = run.attempt + 1
            if not self._update_if(
                _run_key(run_id),
                "SET #state = :running, attempt = :attempt REMOVE finished_at",
                "#state = :failed AND attempt = :old",
                {
                    ":running": RunState.RUNNING.value,
                    ":failed": RunState.FAILED.value,
                    ":attempt": attempt,
                    ":old": run.attempt,
                },
                names={"#state": "state"},
            ):
                raise Conflict(f"run {run_id} changed meanwhile; try again")
        else:
            attempt = run.attempt
        # Per job, in an order that a redrive cut short can resume from: the marker
        # first (what publishers send), then the job's state, then its failure uncounted.
        for job in self._jobs(run_id, status=JobStatus.FAILED.value):
            job_id = job["sk"][4:]
            self._db.put_item(
                TableName=self._table,
                Item=_item(
                    {
                        **_redrive_key(run_id, attempt, job["list"], job_id),
                        "expires_at": self._expiry(),
                    }
                ),
            )
            if self._update_if(
                _job_key(run_id, job_id),
                "SET #status = :redrive, attempt = :attempt, counted = :no",
                "#status = :failed",
                {
                    ":redrive": JobStatus.REDRIVE.value,
                    ":failed": JobStatus.FAILED.value,
                    ":attempt": attempt,
                    ":no": False,
                },
                names={"#status": "status"},
            ):
                self._counter(_run_key(run_id), {"failed": -1})
        per_list: dict[str, int] = {}
        for item in self._query_prefix(f"run#{run_id}", f"redrive#{attempt:06d}#"):
            list_name = item["sk"].split("#", 3)[2]
            per_list[list_name] = per_list.get(list_name, 0) + 1
        updated = self.get_run(run_id)
        assert updated is not None
        return updated, per_list

    def redrive_jobs(self, run_id: str, list_name: str, attempt: int) -> set[str]:
        prefix = f"redrive#{attempt:06d}#{list_name}#"
        return {item["sk"][len(prefix) :] for item in self._query_prefix(f"run#{run_id}", prefix)}

    def finished_jobs(self, run_id: str, list_name: str) -> set[str]:
        final = (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value)
        return {
            item["sk"][4:]
            for item in self._jobs(run_id, status=None)
            if item["list"] == list_name and item["status"] in final
        }

    def job_results(self, run_id: str, status: str | None, limit: int) -> list[JobResult]:
        run = self.get_run(run_id)
        group = run.group if run else ""
        results = []
        for item in self._jobs(run_id, status=status):
            results.append(
                JobResult(
                    ref=JobRef(
                        run_id,
                        group,
                        item["list"],
                        item["sk"][4:],
                        item["scheduled"],
                        int(item["attempt"]),
                    ),
                    status=JobStatus(item["status"]),
                    tries=int(item["tries"]),
                    finished_at=datetime.fromisoformat(item["finished_at"]),
                    error=item["error"],
                    duration_ms=float(item["duration_ms"]) if "duration_ms" in item else None,
                )
            )
            if len(results) >= limit:
                break
        return results

    # -- internals ---------------------------------------------------------------------

    def _finish_if_done(self, run_id: str) -> None:
        """Counters said the run is done: count its results exactly, and end it if so.

        Counters are atomic but can over-count by the rare result whose recorder
        stopped between counting and marking it counted; the recount cannot.
        """
        succeeded = failed = 0
        last = ""
        for item in self._jobs(run_id, status=None):
            if item["status"] == JobStatus.SUCCEEDED.value:
                succeeded += 1
            elif item["status"] == JobStatus.FAILED.value:
                failed += 1
            last = max(last, str(item["finished_at"]))
        run = self.get_run(run_id)
        if run is None or run.state is not RunState.RUNNING:
            return
        ending = final_state(run.total, succeeded, failed)
        if ending is None:
            return
        self._update_if(
            _run_key(run_id),
            "SET #state = :ending, finished_at = :at, succeeded = :s, failed = :f",
            "#state = :running",
            {
                ":ending": ending.value,
                ":at": last,
                ":running": RunState.RUNNING.value,
                ":s": succeeded,
                ":f": failed,
            },
            names={"#state": "state"},
        )

    def _run_item(self, run: Run) -> dict[str, Any]:
        item: dict[str, Any] = {
            **_run_key(run.run_id),
            "grp": run.group,
            "opened_key": f"{format_time(run.opened_at)}#{run.run_id}",
            "version": run.version,
            "state": run.state.value,
            "reason": run.reason,
            "total": run.total,
            "dispatched": run.dispatched,
            "succeeded": run.succeeded,
            "failed": run.failed,
            "attempt": run.attempt,
            "launched": run.launched,
            "source": run.source,
            "note": run.note,
            "scheduled": run.scheduled,
            "slot_time": format_time(run.slot_time),
            "opened_at": format_time(run.opened_at),
            "expires_at": self._expiry(),
        }
        if run.finished_at is not None:
            item["finished_at"] = format_time(run.finished_at)
        return item

    def _expiry(self) -> int:
        return int(time.time()) + self._retention

    def _get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        response = self._db.get_item(TableName=self._table, Key=_item(key), ConsistentRead=True)
        item = response.get("Item")
        return None if item is None else _plain(item)

    def _put(self, item: Mapping[str, Any], condition: str | None) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self._table, "Item": _item(item)}
        if condition:
            put["ConditionExpression"] = condition
        return {"Put": put}

    def _counter(
        self, key: Mapping[str, str], counters: Mapping[str, int]
    ) -> dict[str, Any] | None:
        """Atomic ADD to counters of an existing item; the item after, None if missing."""
        names = {f"#c{i}": name for i, name in enumerate(counters)}
        values = {f":c{i}": value for i, value in enumerate(counters.values())}
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=_item(key),
                UpdateExpression="ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(counters))),
                # Never create a run item from a stray counter update.
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_item(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return _plain(response["Attributes"])

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
                Key=_item(key),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=_item(values),
                **extra,
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _transact(self, actions: list[dict[str, Any]]) -> list[bool] | None:
        """None if every action was written; else which conditions failed."""
        try:
            self._db.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if _code(exc) != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            failed = [r.get("Code") == "ConditionalCheckFailed" for r in reasons]
            if not any(failed):
                raise  # conflicts with another transaction, throttling: not a condition
            return failed
        return None

    def _query_prefix(
        self, pk: str, prefix: str, status: str | None = None
    ) -> Iterator[dict[str, Any]]:
        args: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        if status is not None:
            args["FilterExpression"] = "#status = :status"
            args["ExpressionAttributeNames"] = {"#status": "status"}
            args["ExpressionAttributeValues"][":status"] = {"S": status}
        for page in self._db.get_paginator("query").paginate(**args):
            for item in page.get("Items", []):
                yield _plain(item)

    def _jobs(self, run_id: str, status: str | None) -> Iterator[dict[str, Any]]:
        return self._query_prefix(f"run#{run_id}", "job#", status)

    def _scan_runs(self) -> Iterator[dict[str, Any]]:
        paginator = self._db.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self._table,
            FilterExpression="sk = :run",
            ExpressionAttributeValues={":run": {"S": "run"}},
        ):
            for item in page.get("Items", []):
                yield _plain(item)


def _run_key(run_id: str) -> dict[str, str]:
    return {"pk": f"run#{run_id}", "sk": "run"}


def _head_key(group: str) -> dict[str, str]:
    return {"pk": f"group#{group}", "sk": "head"}


def _part_key(run_id: str, list_name: str, part: int, attempt: int) -> dict[str, str]:
    return {"pk": f"run#{run_id}", "sk": f"part#{attempt:06d}#{list_name}#{part:09d}"}


def _job_key(run_id: str, job_id: str) -> dict[str, str]:
    return {"pk": f"run#{run_id}", "sk": f"job#{job_id}"}


def _redrive_key(run_id: str, attempt: int, list_name: str, job_id: str) -> dict[str, str]:
    return {"pk": f"run#{run_id}", "sk": f"redrive#{attempt:06d}#{list_name}#{job_id}"}


def _item(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _SERIALIZER.serialize(value) for key, value in data.items()}


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _DESERIALIZER.deserialize(value) for key, value in item.items()}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _run_from_item(item: Mapping[str, Any]) -> Run:
    finished = item.get("finished_at")
    return Run(
        run_id=item["pk"][4:],
        group=item["grp"],
        version=int(item["version"]),
        state=RunState(item["state"]),
        reason=item.get("reason", ""),
        total=int(item["total"]),
        dispatched=int(item.get("dispatched", 0)),
        succeeded=int(item.get("succeeded", 0)),
        failed=int(item.get("failed", 0)),
        attempt=int(item.get("attempt", 1)),
        launched=int(item.get("launched", 0)),
        source=item.get("source", ""),
        note=item.get("note", ""),
        scheduled=bool(item.get("scheduled", False)),
        slot_time=datetime.fromisoformat(item["slot_time"]),
        opened_at=datetime.fromisoformat(item["opened_at"]),
        finished_at=datetime.fromisoformat(finished) if finished else None,
    )
