"""Run events in the local ledger (bridge.domain.events): kept once, pending until
delivered; and how far each group's schedule was checked for missed slots."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from bridge.domain.events import PendingEvent, RunEvent
from bridge.domain.triggers import format_time
from bridge.local.ledger.store import SqliteStore

__all__ = ["EventRecords", "insert_events"]


class EventRecords(SqliteStore):
    def note_event(self, event: RunEvent) -> bool:
        with self._transaction() as conn:
            return insert_events(conn, [event]) == 1

    def pending_events(self, now: datetime, limit: int) -> list[PendingEvent]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT * FROM events WHERE pending = 1 AND (next_try IS NULL OR next_try <= ?)"
                " ORDER BY rowid LIMIT ?",
                (format_time(now), limit),
            ).fetchall()
        return [_pending(row) for row in rows]

    def retry_event(self, pending: PendingEvent) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE events SET tries = ?, next_try = ?, targets = ?, last_error = ?"
                " WHERE event_key = ? AND pending = 1",
                (
                    pending.tries,
                    format_time(pending.next_try) if pending.next_try else None,
                    None if pending.targets is None else json.dumps(list(pending.targets)),
                    pending.last_error,
                    pending.event.key,
                ),
            )

    def drop_event(self, event: RunEvent) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE events SET pending = 0 WHERE event_key = ?", (event.key,))

    def slots_checked(self, group: str) -> datetime | None:
        with self._connection() as conn:
            row = conn.execute("SELECT checked FROM slot_marks WHERE grp = ?", (group,)).fetchone()
        return None if row is None else datetime.fromisoformat(row["checked"])

    def set_slots_checked(self, group: str, upto: datetime) -> None:
        with self._transaction() as conn:
            # ISO times in UTC with the same precision compare as text
            conn.execute(
                "INSERT INTO slot_marks (grp, checked) VALUES (?, ?) ON CONFLICT (grp)"
                " DO UPDATE SET checked = excluded.checked WHERE excluded.checked > checked",
                (group, format_time(upto)),
            )


def insert_events(conn: sqlite3.Connection, events: Sequence[RunEvent]) -> int:
    """Keep the events (inside the caller's transaction); how many were new."""
    added = 0
    for event in events:
        added += conn.execute(
            "INSERT OR IGNORE INTO events (event_key, body) VALUES (?, ?)",
            (event.key, json.dumps(event.to_dict())),
        ).rowcount
    return added


def _pending(row: sqlite3.Row) -> PendingEvent:
    return PendingEvent(
        event=RunEvent.from_dict(json.loads(row["body"])),
        tries=row["tries"],
        next_try=datetime.fromisoformat(row["next_try"]) if row["next_try"] else None,
        targets=None if row["targets"] is None else tuple(json.loads(row["targets"])),
        last_error=row["last_error"],
    )
