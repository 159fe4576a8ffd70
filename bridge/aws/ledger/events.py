"""Run events in the DynamoDB ledger (bridge.domain.events), and how far each group's
schedule was checked for missed slots.

Items (pk, sk):
    event#<run>#<attempt>#<kind>  event       the event was kept: its key is taken for
                                              the ledger's retention
    outbox                        <at>#<key>  pending until the sweep has delivered it
    group#<g>                     slots       `checked`: the last slot looked at

An event that goes with a change of state (a run ending failed, a missed slot, a late
run) is written in that change's transaction: the change happens once, so does it.
The outbox is one key, read by the sweep once a minute; it holds an item per event not
yet delivered, a few per run that went wrong, far from a key's 1,000 writes a second.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bridge.aws.ledger.table import DynamoTable, item
from bridge.domain.events import PendingEvent, RunEvent
from bridge.domain.triggers import format_time

__all__ = ["EventRecords"]

_OUTBOX = "outbox"


def _marker_key(event: RunEvent) -> dict[str, str]:
    return {"pk": f"event#{event.key}", "sk": "event"}


def _outbox_key(event: RunEvent) -> dict[str, str]:
    return {"pk": _OUTBOX, "sk": f"{format_time(event.at)}#{event.key}"}


def _slots_key(group: str) -> dict[str, str]:
    return {"pk": f"group#{group}", "sk": "slots"}


class EventRecords(DynamoTable):
    def note_event(self, event: RunEvent) -> bool:
        failed = self._transact(self._event_actions([event], only_new=True))
        return failed is None

    def pending_events(self, now: datetime, limit: int) -> list[PendingEvent]:
        due = format_time(now)
        found: list[PendingEvent] = []
        for data in self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": _OUTBOX}},
            ConsistentRead=True,
        ):
            next_try = data.get("next_try")
            if next_try and next_try > due:
                continue
            targets = data.get("targets")
            found.append(
                PendingEvent(
                    event=RunEvent.from_dict(json.loads(data["body"])),
                    tries=int(data.get("tries", 0)),
                    next_try=datetime.fromisoformat(next_try) if next_try else None,
                    targets=None if targets is None else tuple(targets),
                    last_error=data.get("last_error", ""),
                )
            )
            if len(found) >= limit:
                break
        return found

    def retry_event(self, pending: PendingEvent) -> None:
        values: dict[str, Any] = {
            ":tries": pending.tries,
            ":next": format_time(pending.next_try) if pending.next_try else "",
            ":error": pending.last_error,
            # a list, so an empty one can be stored (a string set cannot be empty)
            ":targets": None if pending.targets is None else list(pending.targets),
        }
        self._update_if(
            _outbox_key(pending.event),
            "SET tries = :tries, next_try = :next, last_error = :error, targets = :targets",
            "attribute_exists(pk)",
            values,
        )

    def drop_event(self, event: RunEvent) -> None:
        self._db.delete_item(TableName=self._table, Key=item(_outbox_key(event)))

    def slots_checked(self, group: str) -> datetime | None:
        found = self._get(_slots_key(group))
        return None if found is None else datetime.fromisoformat(found["checked"])

    def set_slots_checked(self, group: str, upto: datetime) -> None:
        # format_time's text sorts as the time does
        self._update_if(
            _slots_key(group),
            "SET checked = :upto",
            "attribute_not_exists(checked) OR checked < :upto",
            {":upto": format_time(upto)},
        )

    def _event_actions(
        self, events: Sequence[RunEvent], *, only_new: bool = False
    ) -> list[dict[str, Any]]:
        """The Puts that keep `events`: with `only_new`, a kept one fails the transaction;
        without, the caller's own condition (a change that happens once) decides."""
        actions: list[dict[str, Any]] = []
        for event in events:
            marker = {**_marker_key(event), "expires_at": self._expiry()}
            actions.append(
                self._put_action(marker, "attribute_not_exists(pk)" if only_new else None)
            )
            actions.append(
                self._put_action(
                    {
                        **_outbox_key(event),
                        "body": json.dumps(event.to_dict()),
                        "tries": 0,
                        "expires_at": self._expiry(),
                    }
                )
            )
        return actions
