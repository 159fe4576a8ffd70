"""Part markers and send sets in the local ledger."""

from __future__ import annotations

import json
from collections.abc import Mapping

from bridge.local.ledger.store import SqliteStore
from bridge.ports import SendSet

__all__ = ["PartRecords"]


class PartRecords(SqliteStore):
    def part_dispatched(
        self, run_id: str, list_name: str, part: int, attempt: int, only: str
    ) -> bool:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM parts WHERE run_id = ? AND list = ? AND part = ? AND attempt = ?"
                " AND only = ?",
                (run_id, list_name, part, attempt, only),
            ).fetchone()
        return row is not None

    def mark_part_dispatched(
        self, run_id: str, list_name: str, part: int, attempt: int, only: str, jobs: int
    ) -> bool:
        with self._transaction() as conn:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO parts (run_id, list, part, attempt, only, jobs)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, list_name, part, attempt, only, jobs),
            ).rowcount
            if inserted and attempt == 1 and not only:  # progress: a run's first dispatch
                conn.execute(
                    "UPDATE progress SET dispatched = dispatched + ? WHERE run_id = ?",
                    (jobs, run_id),
                )
        return bool(inserted)

    def put_send_sets(
        self, run_id: str, attempt: int, only: str, sets: Mapping[tuple[str, int], SendSet]
    ) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO send_sets (run_id, attempt, only, list, part, jobs)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (run_id, attempt, only, list_name, part, _encode(send))
                    for (list_name, part), send in sets.items()
                ],
            )

    def take_wake(self, run_id: str, lane: str, wake: int, now: float, hold: float) -> bool:
        with self._transaction() as conn:
            taken = conn.execute(
                "INSERT INTO lanes (run_id, lane, wake, held_until) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (run_id, lane) DO UPDATE SET wake = excluded.wake,"
                " held_until = excluded.held_until"
                " WHERE lanes.wake < excluded.wake"
                " OR (lanes.wake = excluded.wake AND lanes.held_until < ?)",
                (run_id, lane, wake, now + hold, now),
            ).rowcount
        return bool(taken)

    def send_set(
        self, run_id: str, attempt: int, only: str, list_name: str, part: int
    ) -> SendSet | None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT jobs FROM send_sets WHERE run_id = ? AND attempt = ? AND only = ?"
                " AND list = ? AND part = ?",
                (run_id, attempt, only, list_name, part),
            ).fetchone()
        if row is None:
            return None
        return SendSet(None if row["jobs"] is None else frozenset(json.loads(row["jobs"])))


def _encode(send: SendSet) -> str | None:
    return None if send.jobs is None else json.dumps(sorted(send.jobs))
