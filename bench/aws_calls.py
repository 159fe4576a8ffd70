"""What a run costs the AWS APIs, per job, counted from the requests they receive.

One run of `LISTS` x `PER_LIST` jobs through the sandbox (`bridge.sandbox`: moto's
server for S3, DynamoDB and SQS, the Lambda emulator for invokes), with moto's request
recorder on: every request moto receives is written down, so the counts below come
from what the APIs saw, not from our own code's idea of what it sent. Lambda requests
are counted by the emulator, per function.

DynamoDB write units are computed from each recorded write with DynamoDB's rules
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html,
item sizes as in .../CapacityUnitCalculations.html): a write costs one unit per KB of
the item, rounded up; an UpdateItem, the larger of the item before and after (taken here
as the item's final size, an upper bound for items that only grow); every item of a
TransactWriteItems twice. Per partition key, the units its writes cost, over the jobs.

    python -m bench.aws_calls [--per-list N]
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bridge.aws.ledger import DynamoLedger
from bridge.domain.controls import Controls
from bridge.domain.cost import PRICES
from bridge.domain.runs import RunState
from bridge.sandbox import DeploymentNames, Sandbox
from bridge.usecases.register import ListSource, register_group

COMMAND = "python -m bench.aws_calls"
LISTS = 2
PER_LIST = 2_000
#: what this benchmark's own requests (watching the run) carry, so they are not counted
OBSERVER = "cronbridge-bench-observer"
#: the targets the results path is held to (issue: results at cloud scale)
TARGETS = {"write_units_per_job": 0.2, "hottest_key_write_units_per_job": 0.1}


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        digits = str(data).lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(base64.b64decode(data))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in data.items())
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in data)
    raise ValueError(f"unknown attribute type {kind}")


def _units(size: int, per: int = 1024) -> int:
    return max(1, math.ceil(size / per))


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["S"]


class Tally:
    """Requests per service and operation, and DynamoDB units per partition key."""

    def __init__(self, final_items: dict[tuple[str, str], dict[str, Any]], ignore_queue: str):
        self.final = final_items
        self.ignore_queue = ignore_queue
        self.requests: collections.Counter[str] = collections.Counter()
        self.write_units: collections.Counter[str] = collections.Counter()
        self.write_units_by_kind: collections.Counter[str] = collections.Counter()
        self.read_units: collections.Counter[str] = collections.Counter()

    def add(self, entry: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in entry["headers"].items()}
        if OBSERVER in headers.get("user-agent", ""):
            return  # this benchmark watching the run, not the run
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            body = base64.b64decode(body).decode("utf-8", "replace")
        target = headers.get("x-amz-target", "")
        if target.startswith("DynamoDB_"):
            operation = target.split(".", 1)[1]
            self.requests[f"dynamodb {operation}"] += 1
            self._dynamodb(operation, json.loads(body or "{}"))
        elif target.startswith("AmazonSQS."):
            data = json.loads(body or "{}")
            if self.ignore_queue and self.ignore_queue in str(data.get("QueueUrl", "")):
                return  # the sandbox's stand-in for S3 invoking the dispatcher
            self.requests[f"sqs {target.split('.', 1)[1]}"] += 1
        elif "/moto-api/" not in entry["url"]:
            self.requests[f"s3 {entry['method']}"] += 1

    def _dynamodb(self, operation: str, body: dict[str, Any]) -> None:
        if operation == "PutItem":
            self._write(body["Item"], item_size(body["Item"]))
        elif operation in ("UpdateItem", "DeleteItem"):
            self._write(body["Key"], self._final_size(body["Key"]))
        elif operation == "BatchWriteItem":
            for requests in body["RequestItems"].values():
                for request in requests:
                    put = request.get("PutRequest")
                    if put:
                        self._write(put["Item"], item_size(put["Item"]))
                    else:
                        key = request["DeleteRequest"]["Key"]
                        self._write(key, self._final_size(key))
        elif operation == "TransactWriteItems":
            for action in body["TransactItems"]:
                ((kind, spec),) = action.items()
                if kind == "Put":
                    self._write(spec["Item"], item_size(spec["Item"]), factor=2)
                else:
                    self._write(spec["Key"], self._final_size(spec["Key"]), factor=2)
        elif operation in ("GetItem", "Query"):
            pk = (body.get("Key") or {}).get("pk", {}).get("S") or _query_pk(body)
            size = sum(item_size(i) for (p, _), i in self.final.items() if p == pk)
            consistent = 1.0 if body.get("ConsistentRead") else 0.5
            self.read_units[pk or "?"] += _units(size, 4096) * consistent

    def _write(self, key: dict[str, Any], size: int, factor: int = 1) -> None:
        units = factor * _units(size)
        self.write_units[key["pk"]["S"]] += units
        sk = key["sk"]["S"]
        kind = "result chunks" if key["pk"]["S"].startswith("res#") else sk.split("#")[0]
        self.write_units_by_kind[kind] += units

    def _final_size(self, key: dict[str, Any]) -> int:
        item = self.final.get(_key(key))
        return item_size(item) if item else 1


def _query_pk(body: dict[str, Any]) -> str | None:
    values = body.get("ExpressionAttributeValues") or {}
    pk = values.get(":pk")
    return pk.get("S") if isinstance(pk, dict) else None


def _lists(tmp: Path, lists: int, per_list: int) -> list[ListSource]:
    sources = []
    for n in range(lists):
        path = tmp / f"list{n}.jsonl"
        with path.open("w") as handle:
            for i in range(per_list):
                handle.write(json.dumps({"id": f"l{n}-{i:06d}", "payload": {"n": i}}) + "\n")
        sources.append(ListSource.from_path(f"list{n}", path))
    return sources


def _scan(table: str) -> dict[tuple[str, str], dict[str, Any]]:
    items = {}
    for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            items[_key(item)] = item
    return items


def measure(lists: int = LISTS, per_list: int = PER_LIST) -> dict[str, Any]:
    jobs = lists * per_list
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        names = DeploymentNames("bench")
        sandbox = Sandbox(
            {"worker": "bench.workers:echo"},
            names=names,
            recording=Path(tmp) / "requests.jsonl",
            sweep_every=60.0,  # as the module schedules it
        )
        sandbox.start()
        try:
            runtime = sandbox.runtime
            register_group(
                "bench",
                "lambda:worker",
                _lists(Path(tmp), lists, per_list),
                Controls(),
                registry=runtime.registry,
                clock=runtime.clock,
                check_target=lambda target, controls: None,
            )
            Path(tmp, "requests.jsonl").write_text("")  # registering is not part of the run
            started = time.monotonic()
            boto3.client("s3").put_object(
                Bucket=names.trigger_bucket, Key="triggers/bench", Body=b""
            )
            watcher = DynamoLedger(
                boto3.client("dynamodb", config=Config(user_agent_extra=OBSERVER)),
                names.ledger_table,
            )
            run = None
            while run is None or not run.state.finished:
                time.sleep(0.5)
                listed = watcher.list_runs("bench", 1)
                run = listed[0] if listed else None
                if time.monotonic() - started > 1800:
                    raise RuntimeError("the run did not end within 30 minutes")
            seconds = time.monotonic() - started
            sandbox.wait_idle(120)
            requests = sandbox.recorded_requests()
            final = _scan(names.ledger_table)
            stats = sandbox.lambdas.stats
            lambda_runs = dict(stats.runs)
            lambda_seconds = {k: round(v, 3) for k, v in stats.seconds.items()}
        finally:
            sandbox.stop()
            os.environ.clear()
            os.environ.update(saved)
    if run is None or run.state is not RunState.SUCCEEDED:
        raise RuntimeError(f"the benchmark's run did not succeed: {run}")
    tally = Tally(final, ignore_queue=names.events_queue)
    for entry in requests:
        tally.add(entry)
    total_wcu = sum(tally.write_units.values())
    hottest, hottest_wcu = tally.write_units.most_common(1)[0]
    core = {k: v for k, v in lambda_runs.items() if k != "worker"}
    requests_per_job = {op: n / jobs for op, n in tally.requests.items()}
    seconds_per_job = {k: v / jobs for k, v in lambda_seconds.items() if k != "worker"}
    return {
        "command": COMMAND,
        "jobs": jobs,
        "sandbox_seconds": round(seconds, 1),
        "results_per_s": round(jobs / seconds, 1),
        "recorder_seconds_per_result": round(seconds_per_job.get(names.recorder, 0.0), 6),
        "cost_per_1m_jobs_usd": _cost_per_million(
            requests_per_job,
            {k: v / jobs for k, v in core.items()},
            seconds_per_job,
            total_wcu / jobs,
            sum(tally.read_units.values()) / jobs,
            names,
        ),
        "requests_per_job": {op: round(n / jobs, 5) for op, n in sorted(tally.requests.items())},
        "lambda_invocations_per_job": {k: round(v / jobs, 5) for k, v in sorted(core.items())},
        "lambda_seconds_per_job": {
            k: round(v / jobs, 6) for k, v in sorted(lambda_seconds.items()) if k != "worker"
        },
        "write_units_per_job": round(total_wcu / jobs, 4),
        "read_units_per_job": round(sum(tally.read_units.values()) / jobs, 4),
        "hottest_key": _shown_key(hottest),
        "hottest_key_write_units_per_job": round(hottest_wcu / jobs, 4),
        "write_units_per_job_by_item": {
            k: round(v / jobs, 4) for k, v in tally.write_units_by_kind.most_common()
        },
        "write_units_per_job_by_key": {
            _shown_key(k): round(v / jobs, 4) for k, v in tally.write_units.most_common(6)
        },
        "targets": TARGETS,
    }


#: the module's memory per function (terraform/modules/aws/functions.tf)
MEMORY_GB = {"dispatcher": 0.25, "publisher": 1.0, "recorder": 0.5, "sweeper": 0.5}


def _cost_per_million(
    requests: dict[str, float],
    invocations: dict[str, float],
    seconds: dict[str, float],
    write_units: float,
    read_units: float,
    names: DeploymentNames,
) -> dict[str, float]:
    """What 1M jobs cost to orchestrate at the counts measured here and list prices
    (bridge.domain.cost.PRICES), at the sandbox's pace of results. Lambda durations are
    the sandbox's wall time, moto's own work included: an upper bound."""
    p = PRICES
    million = 1_000_000
    memory = {getattr(names, role): gb for role, gb in MEMORY_GB.items()}
    lines = {
        "lambda requests": million * sum(invocations.values()) * p["lambda_request"],
        "lambda duration": million
        * sum(s * memory.get(f, 1.0) for f, s in seconds.items())
        * p["lambda_gb_second_arm64"],
        "sqs": million
        * sum(n for op, n in requests.items() if op.startswith("sqs "))
        * p["sqs_request"],
        "dynamodb writes": million * write_units * p["dynamodb_write_unit"],
        "dynamodb reads": million * read_units * p["dynamodb_read_unit"],
        "s3": million
        * (requests.get("s3 GET", 0) * p["s3_get"] + requests.get("s3 PUT", 0) * p["s3_put"]),
    }
    lines["total"] = sum(lines.values())
    return {k: round(v, 4) for k, v in lines.items()}


def _shown_key(pk: str) -> str:
    """A partition key with the run's id left out: `res#<run>#07` -> `res#RUN#07`."""
    parts = pk.split("#")
    return (
        "#".join([parts[0], "RUN", *parts[2:]])
        if len(parts) > 1 and parts[0] in ("run", "res", "claim")
        else pk
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-list", type=int, default=PER_LIST)
    args = parser.parse_args(argv)
    json.dump(measure(per_list=args.per_list), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
