"""What the sweeper's check of missed slots costs the AWS APIs, per group, each minute.

The sweeper Lambda runs `bridge.usecases.slots.check_slots` every minute over every
registered group. This registers `--groups` N groups (half with the schedule
`0 * * * *`, half without, one job each) in an S3 registry and a DynamoDB ledger on a
moto server, as the AWS runtime builds them, with a clock the benchmark sets, then
runs the check at chosen times with moto's request recorder on: every request moto
receives is written down and counted by service and operation, and given to the group
its key names (requests that name no group, like listing the groups, are `shared`).

- steady, before any slot: 30 min after registering, no slot due yet;
- missed slot: 6 min after the hour (the default slot tolerance is 5 min), no trigger
  came for any scheduled group: each records a `missed` run;
- steady: 30 min after the hour, the slot checked: what nearly every minute costs;
- triggered slot: 6 min after the next hour, a run exists for every scheduled group's
  slot (its run item put by the benchmark): the hourly check of a healthy group.

And, if `bridge.usecases.alerts.deliver_alerts` exists, one idle call of it (no event
pending), as the sweeper makes it after the check. DynamoDB units are computed as
bench/aws_calls.py does (`Tally`: DynamoDB's rules, item sizes from the table after the
sweep). The seconds are wall time on moto on this machine, with moto's DynamoDB serving
one request at a time (see `_one_dynamodb_request_at_a_time`): moto's latency, not AWS's.
A sweep that writes is slower on moto than it would be anywhere else: moto deep-copies
the whole table for every item of a TransactWriteItems.

    python -m bench.sweeper_calls [--groups N]
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import json
import logging
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3

from bench.aws_calls import Tally, _scan
from bench.publisher_memory import moto_environment
from bridge.aws.ledger import DynamoLedger, table_definition
from bridge.aws.registry import S3Registry
from bridge.domain.controls import Controls
from bridge.domain.cost import PRICES, PRICES_AS_OF
from bridge.domain.runs import Run, RunState
from bridge.domain.schedules import parse_schedule
from bridge.domain.triggers import group_of_run, slot_run_id
from bridge.usecases.register import ListSource, register_group
from bridge.usecases.slots import CHECK_THREADS, check_slots
from publishers.delivery import client_config

COMMAND = "python -m bench.sweeper_calls"
GROUPS = 200
STATE_BUCKET = "sweeper-bench-state"
TABLE = "sweeper-bench-ledger"
SCHEDULE = "0 * * * *"
#: the groups are registered at this time; the sweeps run at the times below
REGISTERED = datetime(2026, 11, 30, 9, 10, tzinfo=UTC)
SWEEPS = {
    "steady_before_any_slot": datetime(2026, 11, 30, 9, 40, tzinfo=UTC),
    "missed_slot": datetime(2026, 11, 30, 10, 6, tzinfo=UTC),
    "steady": datetime(2026, 11, 30, 10, 30, tzinfo=UTC),
    "triggered_slot": datetime(2026, 11, 30, 11, 6, tzinfo=UTC),
}
#: the slot the benchmark opens a run for before the `triggered_slot` sweep
TRIGGERED_SLOT = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
#: the cost figures: this many scheduled groups, one check a minute for 30 days
COST_GROUPS = 1000
CHECKS_PER_MONTH = 60 * 24 * 30  # 43,200
SLOTS_PER_MONTH = 24 * 30  # an hourly schedule's slots
#: S3 LIST requests are billed at the PUT/COPY/POST/LIST price (https://aws.amazon.com/s3/pricing/)
S3_LIST_PRICE = "s3_put"


@dataclass
class SetClock:
    """The sweeper's clock, at the time the benchmark sets."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class Recording:
    """moto's request recorder, driven over its HTTP API (/moto-api/recorder/...)."""

    def __init__(self, endpoint: str, path: Path) -> None:
        from moto.moto_api import recorder

        recorder._location = str(path)  # the server runs in this process; moto reads no setting
        self.endpoint = endpoint

    def _call(self, action: str, method: str = "POST") -> bytes:
        url = f"{self.endpoint}/moto-api/recorder/{action}"
        request = urllib.request.Request(url, method=method)  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return bytes(response.read())

    def reset_moto(self) -> None:
        """An empty account: moto's state lives in the process (`make bench` runs the
        sandbox in it before)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - loopback
            pass

    def start(self) -> None:
        self._call("reset-recording")
        self._call("start-recording")

    def stop(self) -> list[dict[str, Any]]:
        self._call("stop-recording")
        text = self._call("download-recording", "GET").decode()
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@contextlib.contextmanager
def _one_dynamodb_request_at_a_time() -> Iterator[None]:
    """moto's TransactWriteItems deep-copies the table while other requests change it
    ("dictionary changed size during iteration", a 500 that botocore retries, so a
    write would be counted twice): its DynamoDB serves one request at a time here. AWS
    has no such limit; moto's latency is not AWS's anyway."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    lock = threading.Lock()

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]


def _operation(entry: dict[str, Any], headers: dict[str, str]) -> str:
    target = headers.get("x-amz-target", "")
    if target.startswith("DynamoDB_"):
        return "dynamodb " + target.split(".", 1)[1]
    url = urlsplit(entry["url"])
    query = parse_qs(url.query, keep_blank_values=True)
    method = str(entry["method"])
    if method == "GET" and ("list-type" in query or url.path.rstrip("/").count("/") == 1):
        return "s3 ListObjectsV2"
    named = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject"}
    if method == "POST" and "delete" in query:
        return "s3 DeleteObjects"
    return "s3 " + named.get(method, method)


def _group(entry: dict[str, Any], headers: dict[str, str]) -> str | None:
    """The group a request's key names, if any."""
    if headers.get("x-amz-target", "").startswith("DynamoDB_"):
        body = json.loads(_body(entry) or "{}")
        keys = [body.get("Key") or {}]
        keys.append({"pk": (body.get("ExpressionAttributeValues") or {}).get(":pk") or {}})
        for action in body.get("TransactItems", []):
            ((_, spec),) = action.items()
            keys.append(spec.get("Item") or spec.get("Key") or {})
        for key in keys:
            pk = str((key.get("pk") or {}).get("S", ""))
            if pk.startswith("group#"):
                return pk[len("group#") :]
            if pk.startswith("run#"):
                return group_of_run(pk[len("run#") :])
        return None
    parts = urlsplit(entry["url"]).path.split("/")  # /<bucket>/groups/<group>/...
    return parts[3] if len(parts) > 3 and parts[2] == "groups" else None


def _body(entry: dict[str, Any]) -> str:
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    return str(body)


def _count(
    requests: list[dict[str, Any]], scheduled: set[str], unscheduled: set[str]
) -> dict[str, Any]:
    """Requests by operation and DynamoDB units, per scheduled group, per unscheduled
    group, and shared (per sweep)."""
    final = _scan(TABLE)
    classes = ("scheduled", "unscheduled", "shared")
    counts: dict[str, collections.Counter[str]] = {c: collections.Counter() for c in classes}
    objects: dict[str, collections.Counter[str]] = {c: collections.Counter() for c in classes}
    tallies = {c: Tally(final, ignore_queue="") for c in classes}
    for entry in requests:
        if "/moto-api/" in entry["url"]:
            continue
        headers = {k.lower(): v for k, v in entry["headers"].items()}
        group = _group(entry, headers)
        which = (
            "scheduled"
            if group in scheduled
            else "unscheduled"
            if group in unscheduled
            else "shared"
        )
        operation = _operation(entry, headers)
        counts[which][operation] += 1
        if operation == "s3 GetObject":  # which object: groups/<g>/current.json, ...
            objects[which][urlsplit(entry["url"]).path.rsplit("/", 1)[-1]] += 1
        tallies[which].add(entry)
    sizes = {"scheduled": len(scheduled), "unscheduled": len(unscheduled), "shared": 1}
    out: dict[str, Any] = {"requests": len(requests)}
    for which in classes:
        n = max(1, sizes[which])
        out[which] = {
            "requests": {op: round(k / n, 4) for op, k in sorted(counts[which].items())},
            "s3_objects_read": {o: round(k / n, 4) for o, k in sorted(objects[which].items())},
            "dynamodb_write_units": round(sum(tallies[which].write_units.values()) / n, 4),
            "dynamodb_read_units": round(sum(tallies[which].read_units.values()) / n, 4),
        }
    return out


def _list_source(tmp: Path, group: str) -> ListSource:
    path = tmp / f"{group}.jsonl"
    path.write_text(json.dumps({"id": "only", "payload": {"group": group}}) + "\n")
    return ListSource.from_path("all", path)


def _open_slot_runs(ledger: DynamoLedger, groups: list[str], slot: datetime) -> None:
    """What a trigger for `slot` leaves that the check reads: the slot's run item. Put
    alone, not with the rest of `open_run`'s transaction: moto deep-copies the whole
    table for every item of a TransactWriteItems, which at 1,000 groups takes minutes."""
    for group in groups:
        run = Run(
            run_id=slot_run_id(group, slot),
            group=group,
            version=1,
            state=RunState.SUCCEEDED,
            total=1,
            slot_time=slot,
            opened_at=slot,
            source="schedule",
            scheduled=True,
            succeeded=1,
            finished_at=slot + timedelta(seconds=1),
        )
        ledger._db.put_item(**ledger._run_put(run, False)["Put"])


def measure(groups: int = GROUPS) -> dict[str, Any]:
    quiet = logging.getLogger("cronbridge.slots")  # a warning per missed slot otherwise
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return _measure(groups)
    finally:
        quiet.setLevel(level)


def _measure(groups: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        moto_environment() as env,
        _one_dynamodb_request_at_a_time(),
    ):
        recording = Recording(env["AWS_ENDPOINT_URL"], Path(tmp) / "requests.jsonl")
        recording.reset_moto()
        session = boto3.session.Session(region_name="us-east-1")
        s3 = session.client("s3", config=client_config(32))
        dynamodb = session.client("dynamodb", config=client_config(32))
        s3.create_bucket(Bucket=STATE_BUCKET)
        dynamodb.create_table(**table_definition(TABLE))
        registry = S3Registry(s3, STATE_BUCKET)
        ledger = DynamoLedger(dynamodb, TABLE)
        clock = SetClock(REGISTERED)
        scheduled = [f"hourly-{n:05d}" for n in range(groups - groups // 2)]
        unscheduled = [f"manual-{n:05d}" for n in range(groups // 2)]
        started = time.perf_counter()
        for group in scheduled + unscheduled:
            register_group(
                group,
                "lambda:worker",
                [_list_source(Path(tmp), group)],
                Controls(),
                registry=registry,
                clock=clock,
                check_target=lambda target, controls: None,
                schedule=parse_schedule(SCHEDULE) if group.startswith("hourly") else None,
            )
        register_seconds = time.perf_counter() - started
        sweeps: dict[str, Any] = {}
        for name, at in SWEEPS.items():
            if name == "triggered_slot":
                _open_slot_runs(ledger, scheduled, TRIGGERED_SLOT)
            clock.current = at
            recording.start()
            started = time.perf_counter()
            checks = check_slots(registry=registry, ledger=ledger, clock=clock)
            seconds = time.perf_counter() - started
            requests = recording.stop()
            sweeps[name] = {
                "at": at.isoformat(),
                "moto_seconds": round(seconds, 3),
                "groups_with_slots": len(checks),
                "missed_runs": sum(len(c.missed) for c in checks),
                **_count(requests, set(scheduled), set(unscheduled)),
            }
            _check_no_retries(sweeps[name], len(scheduled))
        alerts = _idle_alerts(registry, ledger, clock, recording, scheduled, unscheduled)
    return _results(groups, len(scheduled), register_seconds, sweeps, alerts)


def _check_no_retries(sweep: dict[str, Any], scheduled: int) -> None:
    """A request moto failed and botocore sent again is recorded twice: the writes
    counted must be the writes made."""
    counted = sweep["scheduled"]["requests"]
    transacts = round(counted.get("dynamodb TransactWriteItems", 0.0) * scheduled)
    marks = round(counted.get("dynamodb UpdateItem", 0.0) * scheduled)
    if transacts != sweep["missed_runs"] or marks != sweep["groups_with_slots"]:
        raise RuntimeError(f"requests were retried, the counts are not the calls made: {sweep}")


def _idle_alerts(
    registry: S3Registry,
    ledger: DynamoLedger,
    clock: SetClock,
    recording: Recording,
    scheduled: list[str],
    unscheduled: list[str],
) -> dict[str, Any] | None:
    """One call of deliver_alerts with nothing pending (the outbox emptied first)."""
    try:
        from bridge.usecases.alerts import deliver_alerts
    except ImportError:
        return None
    outbox = [key for key in _scan(TABLE) if key[0] == "outbox"]
    for pk, sk in outbox:  # the missed slots' events, which no alert here would take
        ledger._db.delete_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    recording.start()
    started = time.perf_counter()
    report = deliver_alerts(
        registry=registry, ledger=ledger, clock=clock, console_url="http://127.0.0.1:8080"
    )
    seconds = time.perf_counter() - started
    requests = recording.stop()
    counted = _count(requests, set(scheduled), set(unscheduled))
    return {
        "moto_seconds": round(seconds, 3),
        "report": repr(report),
        "requests": counted["shared"]["requests"],
        "dynamodb_read_units": counted["shared"]["dynamodb_read_units"],
    }


def _results(
    groups: int,
    scheduled: int,
    register_seconds: float,
    sweeps: dict[str, Any],
    alerts: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "command": f"{COMMAND} --groups {groups}" if groups != GROUPS else COMMAND,
        "groups": groups,
        "scheduled_groups": scheduled,
        "schedule": SCHEDULE,
        "check_threads": CHECK_THREADS,
        "register_seconds": round(register_seconds, 1),
        "sweeps": sweeps,
        "idle_deliver_alerts": alerts,
        "monthly_usd": monthly_cost(sweeps, alerts),
    }


def monthly_cost(sweeps: dict[str, Any], alerts: dict[str, Any] | None) -> dict[str, Any]:
    """COST_GROUPS scheduled groups checked every minute for 30 days, at list prices
    (bridge.domain.cost.PRICES): the steady check each minute, and once an hour the
    check of a slot that was triggered. Requests and units only; not the sweeper's
    Lambda time, which moto's latency does not tell."""
    p = PRICES
    steady, hourly = sweeps["steady"], sweeps["triggered_slot"]

    def per_group(sweep: dict[str, Any], times: int) -> dict[str, float]:
        figures = sweep["scheduled"]
        gets = figures["requests"].get("s3 GetObject", 0.0)
        n = COST_GROUPS * times
        return {
            "s3 GetObject": n * gets * p["s3_get"],
            "dynamodb reads": n * figures["dynamodb_read_units"] * p["dynamodb_read_unit"],
            "dynamodb writes": n * figures["dynamodb_write_units"] * p["dynamodb_write_unit"],
        }

    lines: dict[str, float] = per_group(steady, CHECKS_PER_MONTH)
    # the hourly slot's check replaces that minute's steady one: its extra over steady
    for item, usd in per_group(hourly, SLOTS_PER_MONTH).items():
        lines[item] += usd - per_group(steady, SLOTS_PER_MONTH)[item]
    # listing the groups (measured: one page for up to 1,000 groups), each sweep
    lines["s3 ListObjectsV2"] = CHECKS_PER_MONTH * -(-COST_GROUPS // 1000) * p[S3_LIST_PRICE]
    if alerts is not None:
        lines["deliver_alerts, idle"] = (
            CHECKS_PER_MONTH * alerts["dynamodb_read_units"] * p["dynamodb_read_unit"]
        )
    total = sum(lines.values())
    month = COST_GROUPS * CHECKS_PER_MONTH
    unscheduled = steady["unscheduled"]
    return {
        "groups": COST_GROUPS,
        "checks": CHECKS_PER_MONTH,
        "prices_as_of": PRICES_AS_OF,
        "by_item": {k: round(v, 4) for k, v in lines.items()},
        "total": round(total, 2),
        # the same number of groups registered without a schedule, checked all the same
        "unscheduled_groups_total": round(
            month
            * (
                unscheduled["requests"].get("s3 GetObject", 0.0) * p["s3_get"]
                + unscheduled["dynamodb_read_units"] * p["dynamodb_read_unit"]
            ),
            2,
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=GROUPS)
    args = parser.parse_args(argv)
    json.dump(measure(args.groups), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
