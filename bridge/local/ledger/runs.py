"""Runs in the local ledger: open, skip, launch, cancel, reopen, finish, list."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from bridge.domain.events import RunEvent
from bridge.domain.runs import Progress, Run, RunState
from bridge.domain.tally import Tally
from bridge.domain.tolerance import tolerance_from_json
from bridge.domain.triggers import format_time
from bridge.exceptions import Conflict
from bridge.local.ledger.events import insert_events
from bridge.local.ledger.store import SqliteStore
from bridge.ports import OpenOutcome

__all__ = ["RunRecords"]

_RUN_COLUMNS = (
    "run_id",
    "grp",
    "version",
    "state",
    "reason",
    "total",
    "succeeded",
    "failed",
    "lost",
    "attempt",
    "launched",
    "deadline",
    "resent",
    "source",
    "note",
    "scheduled",
    "slot_time",
    "opened_at",
    "finished_at",
    "tolerated",
)
_SELECT_RUN = (
    "SELECT "
    + ", ".join(f"r.{c}" for c in _RUN_COLUMNS)
    + ", p.dispatched AS p_dispatched, p.succeeded AS p_succeeded, p.failed AS p_failed,"
    " p.lost AS p_lost FROM runs r LEFT JOIN progress p ON p.run_id = r.run_id"
)


class RunRecords(SqliteStore):
    def get_run(self, run_id: str) -> Run | None:
        with self._connection() as conn:
            return _fetch_run(conn, run_id)

    def latest_run(self, group: str) -> Run | None:
        with self._connection() as conn:
            row = conn.execute(
                f"{_SELECT_RUN} JOIN heads h ON h.run_id = r.run_id WHERE h.grp = ?", (group,)
            ).fetchone()
        return None if row is None else _run_from_row(row)

    def open_run(
        self,
        run: Run,
        *,
        previous: str | None,
        cancel: str | None,
        over_missed: bool = False,
        events: Sequence[RunEvent] = (),
    ) -> OpenOutcome:
        with self._transaction() as conn:
            if not _make_room(conn, run.run_id, over_missed):
                return "duplicate"
            head = conn.execute("SELECT run_id FROM heads WHERE grp = ?", (run.group,)).fetchone()
            if (head["run_id"] if head else None) != previous:
                raise Conflict(f"group {run.group!r} opened another run meanwhile")
            _insert_run(conn, run)
            conn.execute(
                "INSERT INTO progress (run_id, missing) VALUES (?, ?)", (run.run_id, run.total)
            )
            conn.execute(
                "INSERT INTO heads (grp, run_id) VALUES (?, ?) "
                "ON CONFLICT (grp) DO UPDATE SET run_id = excluded.run_id",
                (run.group, run.run_id),
            )
            if cancel is not None:
                _cancel(conn, cancel, f"replaced by run {run.run_id}", run.opened_at)
            insert_events(conn, events)
        return "opened"

    def record_skip(self, run: Run, *, over_missed: bool = False) -> OpenOutcome:
        with self._transaction() as conn:
            if not _make_room(conn, run.run_id, over_missed):
                return "duplicate"
            _insert_run(conn, run)
        return "opened"

    def record_missed(self, run: Run, events: Sequence[RunEvent] = ()) -> OpenOutcome:
        with self._transaction() as conn:
            if _fetch_run(conn, run.run_id) is not None:
                return "duplicate"
            _insert_run(conn, run)
            insert_events(conn, events)
        return "opened"

    def mark_launched(self, run_id: str, attempt: int) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE runs SET launched = max(launched, ?) WHERE run_id = ?", (attempt, run_id)
            )

    def list_runs(self, group: str | None, limit: int) -> list[Run]:
        where, args = ("WHERE r.grp = ?", (group,)) if group else ("", ())
        with self._connection() as conn:
            rows = conn.execute(
                f"{_SELECT_RUN} {where} ORDER BY r.rowid DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return [_run_from_row(row) for row in rows]

    def open_runs(self) -> list[Run]:
        with self._connection() as conn:
            rows = conn.execute(
                f"{_SELECT_RUN} WHERE r.state = ? ORDER BY r.rowid", (RunState.RUNNING.value,)
            ).fetchall()
        return [_run_from_row(row) for row in rows]

    def cancel_run(self, run_id: str, reason: str, at: datetime) -> bool:
        with self._transaction() as conn:
            return _cancel(conn, run_id, reason, at)

    def reopen_run(
        self,
        run_id: str,
        *,
        expected: RunState,
        attempt: int,
        deadline: datetime,
        progress: Progress,
    ) -> bool:
        with self._transaction() as conn:
            changed = conn.execute(
                "UPDATE runs SET state = ?, attempt = ?, deadline = ?, reason = '',"
                " finished_at = NULL WHERE run_id = ? AND state = ?",
                (
                    RunState.RUNNING.value,
                    attempt,
                    format_time(deadline),
                    run_id,
                    expected.value,
                ),
            ).rowcount
            if changed:
                conn.execute(
                    "INSERT OR REPLACE INTO progress (run_id, dispatched, succeeded, failed, lost,"
                    " checked, missing) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        progress.dispatched,
                        progress.succeeded,
                        progress.failed,
                        progress.lost,
                        progress.checked,
                        progress.missing,
                    ),
                )
        return bool(changed)

    def set_deadline(self, run_id: str, attempt: int, deadline: datetime, resent: int) -> bool:
        with self._transaction() as conn:
            return bool(
                conn.execute(
                    "UPDATE runs SET deadline = ?, resent = ? WHERE run_id = ? AND state = ?"
                    " AND attempt = ?",
                    (format_time(deadline), resent, run_id, RunState.RUNNING.value, attempt),
                ).rowcount
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
        with self._transaction() as conn:
            finished = bool(
                conn.execute(
                    "UPDATE runs SET state = ?, succeeded = ?, failed = ?, lost = ?,"
                    " finished_at = ? WHERE run_id = ? AND state = ? AND attempt = ?",
                    (
                        state.value,
                        tally.succeeded,
                        tally.failed,
                        tally.lost,
                        format_time(at),
                        run_id,
                        RunState.RUNNING.value,
                        attempt,
                    ),
                ).rowcount
            )
            if finished:
                insert_events(conn, events)
            return finished


def _make_room(conn: sqlite3.Connection, run_id: str, over_missed: bool) -> bool:
    """Whether a run may be inserted as `run_id`: none is there, or (`over_missed`) the
    one there is a missed slot's record, which is removed for it."""
    existing = _fetch_run(conn, run_id)
    if existing is None:
        return True
    if not over_missed or existing.state is not RunState.MISSED:
        return False
    conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
    return True


def _cancel(conn: sqlite3.Connection, run_id: str, reason: str, at: datetime) -> bool:
    return bool(
        conn.execute(
            "UPDATE runs SET state = ?, reason = ?, finished_at = ? WHERE run_id = ? AND state = ?",
            (RunState.CANCELLED.value, reason, format_time(at), run_id, RunState.RUNNING.value),
        ).rowcount
    )


def _fetch_run(conn: sqlite3.Connection, run_id: str) -> Run | None:
    row = conn.execute(f"{_SELECT_RUN} WHERE r.run_id = ?", (run_id,)).fetchone()
    return None if row is None else _run_from_row(row)


def _insert_run(conn: sqlite3.Connection, run: Run) -> None:
    conn.execute(
        f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))})",
        (
            run.run_id,
            run.group,
            run.version,
            run.state.value,
            run.reason,
            run.total,
            run.succeeded,
            run.failed,
            run.lost,
            run.attempt,
            run.launched,
            format_time(run.deadline) if run.deadline else None,
            run.resent,
            run.source,
            run.note,
            int(run.scheduled),
            format_time(run.slot_time),
            format_time(run.opened_at),
            format_time(run.finished_at) if run.finished_at else None,
            str(run.tolerance),
        ),
    )


def _run_from_row(row: sqlite3.Row) -> Run:
    run = Run(
        run_id=row["run_id"],
        group=row["grp"],
        version=row["version"],
        state=RunState(row["state"]),
        reason=row["reason"],
        total=row["total"],
        succeeded=row["succeeded"],
        failed=row["failed"],
        lost=row["lost"],
        attempt=row["attempt"],
        launched=row["launched"],
        deadline=_time(row["deadline"]),
        resent=row["resent"],
        source=row["source"],
        note=row["note"],
        scheduled=bool(row["scheduled"]),
        slot_time=datetime.fromisoformat(row["slot_time"]),
        opened_at=datetime.fromisoformat(row["opened_at"]),
        finished_at=_time(row["finished_at"]),
        tolerance=tolerance_from_json(row["tolerated"]),
    )
    if row["p_dispatched"] is None:
        return run  # a skipped run has no progress
    return run.with_progress(
        Progress(
            dispatched=row["p_dispatched"],
            succeeded=row["p_succeeded"],
            failed=row["p_failed"],
            lost=row["p_lost"],
        )
    )


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
