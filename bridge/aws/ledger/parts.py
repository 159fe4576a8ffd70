"""Part markers and send sets in the DynamoDB ledger."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bridge.aws.ledger.table import BATCH_WRITE, DynamoTable, item, progress_key
from bridge.ports import SendSet

__all__ = ["PartRecords"]


def _part_key(run_id: str, attempt: int, only: str, list_name: str, part: int) -> dict[str, str]:
    return {"pk": f"run#{run_id}", "sk": f"part#{attempt:06d}#{only}#{list_name}#{part:09d}"}


def _send_key(run_id: str, attempt: int, only: str, list_name: str, part: int) -> dict[str, str]:
    return {"pk": f"run#{run_id}", "sk": f"send#{attempt:06d}#{only}#{list_name}#{part:09d}"}


class PartRecords(DynamoTable):
    def part_dispatched(
        self, run_id: str, list_name: str, part: int, attempt: int, only: str
    ) -> bool:
        return self._get(_part_key(run_id, attempt, only, list_name, part)) is not None

    def mark_part_dispatched(
        self, run_id: str, list_name: str, part: int, attempt: int, only: str, jobs: int
    ) -> bool:
        marker = {
            **_part_key(run_id, attempt, only, list_name, part),
            "jobs": jobs,
            "expires_at": self._expiry(),
        }
        if not self._put_if_new(marker):
            return False
        if attempt == 1 and not only:  # progress: a run's first dispatch
            self._db.update_item(
                TableName=self._table,
                Key=item(progress_key(run_id)),
                UpdateExpression="ADD dispatched :n",
                ExpressionAttributeValues=item({":n": jobs}),
            )
        return True

    def put_send_sets(
        self, run_id: str, attempt: int, only: str, sets: Mapping[tuple[str, int], SendSet]
    ) -> None:
        requests = []
        for (list_name, part), send in sorted(sets.items()):
            data: dict[str, Any] = {
                **_send_key(run_id, attempt, only, list_name, part),
                "expires_at": self._expiry(),
            }
            if send.jobs is not None:
                data["jobs"] = json.dumps(sorted(send.jobs), separators=(",", ":"))
            requests.append({"PutRequest": {"Item": item(data)}})
        for start in range(0, len(requests), BATCH_WRITE):
            self._write_all(requests[start : start + BATCH_WRITE])

    def take_wake(self, run_id: str, lane: str, wake: int, now: float, hold: float) -> bool:
        # One write per wake, on the run's partition key: a run's lanes wake about once a
        # second each, at most max_rate / 100 of them, far under the key's 1,000 a second.
        return self._update_if(
            {"pk": f"run#{run_id}", "sk": f"lane#{lane}"},
            "SET wake = :wake, held_until = :until, expires_at = :expires",
            "attribute_not_exists(pk) OR wake < :wake OR (wake = :wake AND held_until < :now)",
            {
                ":wake": wake,
                ":until": Decimal(str(round(now + hold, 3))),
                ":now": Decimal(str(round(now, 3))),
                ":expires": self._expiry(),
            },
        )

    def send_set(
        self, run_id: str, attempt: int, only: str, list_name: str, part: int
    ) -> SendSet | None:
        found = self._get(_send_key(run_id, attempt, only, list_name, part))
        if found is None:
            return None
        jobs = found.get("jobs")
        return SendSet(None if jobs is None else frozenset(json.loads(jobs)))
