"""Runs in the DynamoDB ledger: open, skip, launch, cancel, reopen, finish, list.

Every change of a run's state is one transaction with the `open` item the sweep looks
at, so a running run is always found, and a finished one never.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from bridge.aws.ledger.events import EventRecords
from bridge.aws.ledger.table import (
    GROUP_INDEX,
    LAYOUT,
    head_key,
    item,
    open_key,
    plain,
    progress_from_item,
    progress_key,
    run_key,
)
from bridge.domain.events import RunEvent
from bridge.domain.runs import Progress, Run, RunState
from bridge.domain.tally import Tally
from bridge.domain.tolerance import tolerance_from_json
from bridge.domain.triggers import format_time
from bridge.exceptions import Conflict
from bridge.ports import OpenOutcome

__all__ = ["RunRecords", "run_from_item"]


#: a run may be written where there is none, or (a late trigger) over a missed slot's
_NEW_OR_MISSED = "attribute_not_exists(pk) OR #state = :missed"


class RunRecords(EventRecords):
    def get_run(self, run_id: str) -> Run | None:
        found = {
            i["sk"]: i
            for i in self._query(
                KeyConditionExpression="pk = :pk AND sk BETWEEN :progress AND :run",
                ExpressionAttributeValues=item(
                    {":pk": f"run#{run_id}", ":progress": "progress", ":run": "run"}
                ),
                ConsistentRead=True,
            )
        }
        if "run" not in found:
            return None
        run = run_from_item(found["run"])
        if "progress" not in found:
            return run
        return run.with_progress(progress_from_item(found["progress"]))

    def latest_run(self, group: str) -> Run | None:
        head = self._get(head_key(group))
        return None if head is None else self.get_run(head["run_id"])

    def open_run(
        self,
        run: Run,
        *,
        previous: str | None,
        cancel: str | None,
        over_missed: bool = False,
        events: Sequence[RunEvent] = (),
    ) -> OpenOutcome:
        head_condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if previous is None
            else {
                "ConditionExpression": "run_id = :previous",
                "ExpressionAttributeValues": item({":previous": previous}),
            }
        )
        actions: list[dict[str, Any]] = [
            self._run_put(run, over_missed),
            {
                "Put": {
                    "TableName": self._table,
                    "Item": item({**head_key(run.group), "run_id": run.run_id}),
                    **head_condition,
                }
            },
            self._put_action(
                {**progress_key(run.run_id), "missing": run.total, "expires_at": self._expiry()}
            ),
            self._put_action({**open_key(run.run_id), "expires_at": self._expiry()}),
        ]
        if cancel is not None:
            actions += self._cancel_actions(cancel, f"replaced by run {run.run_id}", run.opened_at)
        actions += self._event_actions(events)
        failed = self._transact(actions)
        if failed is None:
            return "opened"
        if failed[0]:
            return "duplicate"
        if failed[1]:
            raise Conflict(f"group {run.group!r} opened another run meanwhile")
        # The run to replace ended meanwhile: open without cancelling anything.
        return self.open_run(
            run, previous=previous, cancel=None, over_missed=over_missed, events=events
        )

    def record_skip(self, run: Run, *, over_missed: bool = False) -> OpenOutcome:
        return (
            "opened" if self._transact([self._run_put(run, over_missed)]) is None else "duplicate"
        )

    def record_missed(self, run: Run, events: Sequence[RunEvent] = ()) -> OpenOutcome:
        actions = [self._run_put(run, False), *self._event_actions(events)]
        return "opened" if self._transact(actions) is None else "duplicate"

    def mark_launched(self, run_id: str, attempt: int) -> None:
        self._update_if(run_key(run_id), "SET launched = :a", "launched < :a", {":a": attempt})

    def list_runs(self, group: str | None, limit: int) -> list[Run]:
        if group is None:
            items = sorted(self._scan_runs(), key=lambda i: str(i["opened_key"]), reverse=True)
            runs = [run_from_item(i) for i in items[:limit]]
        else:
            response = self._db.query(
                TableName=self._table,
                IndexName=GROUP_INDEX,
                KeyConditionExpression="grp = :group",
                ExpressionAttributeValues=item({":group": group}),
                ScanIndexForward=False,
                Limit=limit,
            )
            runs = [run_from_item(plain(i)) for i in response.get("Items", [])]
        return self._with_progress(runs)

    def open_runs(self) -> list[Run]:
        ids = [
            i["sk"]
            for i in self._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": "open"}},
                ConsistentRead=True,
            )
        ]
        runs = [self.get_run(run_id) for run_id in ids]
        return [r for r in runs if r is not None and r.state is RunState.RUNNING]

    def cancel_run(self, run_id: str, reason: str, at: datetime) -> bool:
        return self._transact(self._cancel_actions(run_id, reason, at)) is None

    def reopen_run(
        self,
        run_id: str,
        *,
        expected: RunState,
        attempt: int,
        deadline: datetime,
        progress: Progress,
    ) -> bool:
        actions = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": item(run_key(run_id)),
                    "UpdateExpression": "SET #state = :running, attempt = :attempt,"
                    " deadline = :deadline, reason = :empty REMOVE finished_at",
                    "ConditionExpression": "#state = :expected",
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": item(
                        {
                            ":running": RunState.RUNNING.value,
                            ":attempt": attempt,
                            ":deadline": format_time(deadline),
                            ":empty": "",
                            ":expected": expected.value,
                        }
                    ),
                }
            },
            self._put_action(
                {
                    **progress_key(run_id),
                    "dispatched": progress.dispatched,
                    "succeeded": progress.succeeded,
                    "failed": progress.failed,
                    "lost": progress.lost,
                    "checked": progress.checked,
                    "missing": progress.missing,
                    "expires_at": self._expiry(),
                }
            ),
            self._put_action({**open_key(run_id), "expires_at": self._expiry()}),
        ]
        return self._transact(actions) is None

    def set_deadline(self, run_id: str, attempt: int, deadline: datetime, resent: int) -> bool:
        return self._update_if(
            run_key(run_id),
            "SET deadline = :deadline, resent = :resent",
            "#state = :running AND attempt = :attempt",
            {
                ":deadline": format_time(deadline),
                ":resent": resent,
                ":running": RunState.RUNNING.value,
                ":attempt": attempt,
            },
            names={"#state": "state"},
        )

    def finish_run(
        self,
        run_id: str,
        attempt: int,
        state: RunState,
        tally: Tally,
        at: datetime,
        events: Sequence[RunEvent] = (),
    ) -> bool:
        update = {
            "Update": {
                "TableName": self._table,
                "Key": item(run_key(run_id)),
                "UpdateExpression": "SET #state = :state, finished_at = :at, succeeded = :s,"
                " failed = :f, lost = :l",
                "ConditionExpression": "#state = :running AND attempt = :attempt",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": item(
                    {
                        ":state": state.value,
                        ":at": format_time(at),
                        ":s": tally.succeeded,
                        ":f": tally.failed,
                        ":l": tally.lost,
                        ":running": RunState.RUNNING.value,
                        ":attempt": attempt,
                    }
                ),
            }
        }
        actions = [update, self._delete_action(open_key(run_id)), *self._event_actions(events)]
        return self._transact(actions) is None

    # -- internals ---------------------------------------------------------------------

    def _cancel_actions(self, run_id: str, reason: str, at: datetime) -> list[dict[str, Any]]:
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": item(run_key(run_id)),
                    "UpdateExpression": "SET #state = :cancelled, reason = :reason, finished_at = :at",
                    "ConditionExpression": "#state = :running",
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": item(
                        {
                            ":cancelled": RunState.CANCELLED.value,
                            ":running": RunState.RUNNING.value,
                            ":reason": reason,
                            ":at": format_time(at),
                        }
                    ),
                }
            },
            self._delete_action(open_key(run_id)),
        ]

    def _with_progress(self, runs: list[Run]) -> list[Run]:
        """Runs with their progress (one BatchGetItem per 100): what was dispatched, and
        while a run has not ended, its counters."""
        wanted = [r.run_id for r in runs if not r.state.never_ran]
        progress: dict[str, Progress] = {}
        for start in range(0, len(wanted), 100):
            keys = [item(progress_key(run_id)) for run_id in wanted[start : start + 100]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self._db.batch_get_item(RequestItems=request)
                for found in response.get("Responses", {}).get(self._table, []):
                    data = plain(found)
                    progress[data["pk"][4:]] = progress_from_item(data)
                request = response.get("UnprocessedKeys") or {}
        return [r.with_progress(progress[r.run_id]) if r.run_id in progress else r for r in runs]

    def _run_put(self, run: Run, over_missed: bool) -> dict[str, Any]:
        if not over_missed:
            return self._put_action(self._run_item(run), "attribute_not_exists(pk)")
        action = self._put_action(self._run_item(run), _NEW_OR_MISSED)
        action["Put"]["ExpressionAttributeNames"] = {"#state": "state"}
        action["Put"]["ExpressionAttributeValues"] = item({":missed": RunState.MISSED.value})
        return action

    def _run_item(self, run: Run) -> dict[str, Any]:
        data: dict[str, Any] = {
            **run_key(run.run_id),
            "layout": LAYOUT,
            "grp": run.group,
            "opened_key": f"{format_time(run.opened_at)}#{run.run_id}",
            "version": run.version,
            "state": run.state.value,
            "reason": run.reason,
            "total": run.total,
            "succeeded": run.succeeded,
            "failed": run.failed,
            "lost": run.lost,
            "attempt": run.attempt,
            "launched": run.launched,
            "resent": run.resent,
            "source": run.source,
            "note": run.note,
            "scheduled": run.scheduled,
            "slot_time": format_time(run.slot_time),
            "opened_at": format_time(run.opened_at),
            "tolerated": str(run.tolerance),
            "expires_at": self._expiry(),
        }
        if run.deadline is not None:
            data["deadline"] = format_time(run.deadline)
        if run.finished_at is not None:
            data["finished_at"] = format_time(run.finished_at)
        return data

    def _scan_runs(self) -> Iterator[dict[str, Any]]:
        paginator = self._db.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self._table,
            FilterExpression="sk = :run",
            ExpressionAttributeValues={":run": {"S": "run"}},
        ):
            for found in page.get("Items", []):
                yield plain(found)


def run_from_item(data: Mapping[str, Any]) -> Run:
    return Run(
        run_id=data["pk"][4:],
        group=data["grp"],
        version=int(data["version"]),
        state=RunState(data["state"]),
        reason=data.get("reason", ""),
        total=int(data["total"]),
        succeeded=int(data.get("succeeded", 0)),
        failed=int(data.get("failed", 0)),
        lost=int(data.get("lost", 0)),
        attempt=int(data.get("attempt", 1)),
        launched=int(data.get("launched", 0)),
        deadline=_time(data.get("deadline")),
        resent=int(data.get("resent", 0)),
        source=data.get("source", ""),
        note=data.get("note", ""),
        scheduled=bool(data.get("scheduled", False)),
        slot_time=datetime.fromisoformat(data["slot_time"]),
        opened_at=datetime.fromisoformat(data["opened_at"]),
        finished_at=_time(data.get("finished_at")),
        tolerance=tolerance_from_json(data.get("tolerated")),  # none before it was kept
    )


def _time(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
