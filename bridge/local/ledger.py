"""The SQLite run ledger: the DynamoDB table's records (DESIGN.md §3.5) in one local file.

WAL mode, so `cronbridge runs watch` reads while `cronbridge serve` writes; every
change that must be all-or-nothing runs in one `BEGIN IMMEDIATE` transaction.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from bridge.domain.results import JobRef, JobResult, JobStatus
from bridge.domain.runs import Run, RunState, final_state
from bridge.domain.triggers import format_time
from bridge.exceptions import Conflict, InvalidInput, RunNotFound
from bridge.ports import OpenOutcome

__all__ = ["SqliteLedger"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    grp         TEXT NOT NULL,
    version     INTEGER NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    total       INTEGER NOT NULL,
    dispatched  INTEGER NOT NULL DEFAULT 0,
    succeeded   INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    attempt     INTEGER NOT NULL DEFAULT 1,
    launched    INTEGER NOT NULL DEFAULT 0,
    source      TEXT NOT NULL,
    note        TEXT NOT NULL,
    scheduled   INTEGER NOT NULL,
    slot_time   TEXT NOT NULL,
    opened_at   TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_group ON runs (grp);
CREATE TABLE IF NOT EXISTS heads (
    grp    TEXT PRIMARY KEY,
    run_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    run_id  TEXT NOT NULL,
    list    TEXT NOT NULL,
    part    INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    jobs    INTEGER NOT NULL,
    PRIMARY KEY (run_id, list, part, attempt)
);
CREATE TABLE IF NOT EXISTS results (
    run_id      TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    list        TEXT NOT NULL,
    scheduled   TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    tries       INTEGER NOT NULL,
    error       TEXT NOT NULL,
    duration_ms REAL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (run_id, job_id)
);
CREATE INDEX IF NOT EXISTS results_by_status ON results (run_id, status);
"""

_RUN_COLUMNS = (
    "run_id, grp, version, state, reason, total, dispatched, succeeded, failed, attempt, "
    "launched, source, note, scheduled, slot_time, opened_at, finished_at"
)


class SqliteLedger:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self._connection() as conn:
            conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close every connection; the ledger opens new ones if it is used again."""
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
            while not self._idle.empty():
                self._idle.get_nowait()

    # -- connections -------------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            with self._lock:
                self._opened.append(conn)
        try:
            yield conn
        finally:
            self._idle.put(conn)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- runs --------------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run | None:
        with self._connection() as conn:
            return _fetch_run(conn, run_id)

    def latest_run(self, group: str) -> Run | None:
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {_prefixed('r')} FROM heads h JOIN runs r ON r.run_id = h.run_id WHERE h.grp = ?",
                (group,),
            ).fetchone()
        return None if row is None else _run_from_row(row)

    def open_run(self, run: Run, *, previous: str | None, cancel: str | None) -> OpenOutcome:
        with self._transaction() as conn:
            if _fetch_run(conn, run.run_id) is not None:
                return "duplicate"
            head = conn.execute("SELECT run_id FROM heads WHERE grp = ?", (run.group,)).fetchone()
            if (head["run_id"] if head else None) != previous:
                raise Conflict(f"group {run.group!r} opened another run meanwhile")
            _insert_run(conn, run)
            conn.execute(
                "INSERT INTO heads (grp, run_id) VALUES (?, ?) "
                "ON CONFLICT (grp) DO UPDATE SET run_id = excluded.run_id",
                (run.group, run.run_id),
            )
            if cancel is not None:
                conn.execute(
                    "UPDATE runs SET state = ?, reason = ?, finished_at = ? WHERE run_id = ? AND state = ?",
                    (
                        RunState.CANCELLED.value,
                        f"replaced by run {run.run_id}",
                        format_time(run.opened_at),
                        cancel,
                        RunState.RUNNING.value,
                    ),
                )
        return "opened"

    def record_skip(self, run: Run) -> OpenOutcome:
        with self._transaction() as conn:
            if _fetch_run(conn, run.run_id) is not None:
                return "duplicate"
            _insert_run(conn, run)
        return "opened"

    def mark_launched(self, run_id: str, attempt: int) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE runs SET launched = max(launched, ?) WHERE run_id = ?", (attempt, run_id)
            )

    def list_runs(self, group: str | None, limit: int) -> list[Run]:
        where, args = ("WHERE grp = ?", (group,)) if group else ("", ())
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY rowid DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [_run_from_row(row) for row in rows]

    # -- parts -------------------------------------------------------------------------

    def part_dispatched(self, run_id: str, list_name: str, part: int, attempt: int) -> bool:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM parts WHERE run_id = ? AND list = ? AND part = ? AND attempt = ?",
                (run_id, list_name, part, attempt),
            ).fetchone()
        return row is not None

    def mark_part_dispatched(
        self, run_id: str, list_name: str, part: int, attempt: int, jobs: int
    ) -> bool:
        with self._transaction() as conn:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO parts (run_id, list, part, attempt, jobs) VALUES (?, ?, ?, ?, ?)",
                (run_id, list_name, part, attempt, jobs),
            ).rowcount
            if inserted and attempt == 1:
                conn.execute(
                    "UPDATE runs SET dispatched = dispatched + ? WHERE run_id = ?", (jobs, run_id)
                )
        return bool(inserted)

    # -- results -----------------------------------------------------------------------

    def record_result(self, result: JobResult) -> bool:
        ref = result.ref
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT status, attempt FROM results WHERE run_id = ? AND job_id = ?",
                (ref.run_id, ref.job_id),
            ).fetchone()
            values = (
                ref.list_name,
                ref.scheduled_time,
                result.status.value,
                ref.attempt,
                result.tries,
                result.error,
                result.duration_ms,
                format_time(result.finished_at),
                ref.run_id,
                ref.job_id,
            )
            if row is None:
                conn.execute(
                    "INSERT INTO results (list, scheduled, status, attempt, tries, error, duration_ms,"
                    " finished_at, run_id, job_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
            elif row["status"] == JobStatus.REDRIVE.value and row["attempt"] == ref.attempt:
                conn.execute(
                    "UPDATE results SET list = ?, scheduled = ?, status = ?, attempt = ?, tries = ?,"
                    " error = ?, duration_ms = ?, finished_at = ? WHERE run_id = ? AND job_id = ?",
                    values,
                )
            else:
                return False  # a duplicate delivery: counted already
            ok = result.status is JobStatus.SUCCEEDED
            conn.execute(
                "UPDATE runs SET succeeded = succeeded + ?, failed = failed + ? WHERE run_id = ?",
                (int(ok), int(not ok), ref.run_id),
            )
            run = _fetch_run(conn, ref.run_id)
            if run is not None and run.state is RunState.RUNNING:
                ending = final_state(run.total, run.succeeded, run.failed)
                if ending is not None:
                    # Results may be recorded out of order: the run ended when its last job did.
                    conn.execute(
                        "UPDATE runs SET state = ?, finished_at ="
                        " (SELECT max(finished_at) FROM results WHERE run_id = ?) WHERE run_id = ?",
                        (ending.value, ref.run_id, ref.run_id),
                    )
        return True

    def begin_redrive(self, run_id: str) -> tuple[Run, dict[str, int]]:
        with self._transaction() as conn:
            run = _fetch_run(conn, run_id)
            if run is None:
                raise RunNotFound(
                    f"run {run_id!r} is not in the ledger", hint="see `cronbridge runs list GROUP`"
                )
            if run.attempt > 1 and run.state is RunState.RUNNING and run.launched < run.attempt:
                # Resuming: this transaction marked every failed job last time.
                per_list = {
                    row["list"]: int(row["n"])
                    for row in conn.execute(
                        "SELECT list, count(*) AS n FROM results"
                        " WHERE run_id = ? AND status = ? AND attempt = ? GROUP BY list",
                        (run_id, JobStatus.REDRIVE.value, run.attempt),
                    )
                }
                return run, per_list
            if run.state is not RunState.FAILED:
                raise InvalidInput(
                    f"run {run_id} is {run.state}; only a failed run can be redriven",
                    hint="wait for it to finish" if run.state is RunState.RUNNING else None,
                )
            per_list = {
                row["list"]: int(row["n"])
                for row in conn.execute(
                    "SELECT list, count(*) AS n FROM results WHERE run_id = ? AND status = ? GROUP BY list",
                    (run_id, JobStatus.FAILED.value),
                )
            }
            attempt = run.attempt + 1
            conn.execute(
                "UPDATE results SET status = ?, attempt = ? WHERE run_id = ? AND status = ?",
                (JobStatus.REDRIVE.value, attempt, run_id, JobStatus.FAILED.value),
            )
            conn.execute(
                "UPDATE runs SET state = ?, failed = failed - ?, attempt = ?, finished_at = NULL"
                " WHERE run_id = ?",
                (RunState.RUNNING.value, sum(per_list.values()), attempt, run_id),
            )
            updated = _fetch_run(conn, run_id)
        assert updated is not None
        return updated, per_list

    def redrive_jobs(self, run_id: str, list_name: str, attempt: int) -> set[str]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT job_id FROM results WHERE run_id = ? AND list = ? AND status = ? AND attempt = ?",
                (run_id, list_name, JobStatus.REDRIVE.value, attempt),
            ).fetchall()
        return {row["job_id"] for row in rows}

    def finished_jobs(self, run_id: str, list_name: str) -> set[str]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT job_id FROM results WHERE run_id = ? AND list = ? AND status IN (?, ?)",
                (run_id, list_name, JobStatus.SUCCEEDED.value, JobStatus.FAILED.value),
            ).fetchall()
        return {row["job_id"] for row in rows}

    def job_results(self, run_id: str, status: str | None, limit: int) -> list[JobResult]:
        where, args = ("AND status = ?", (status,)) if status else ("", ())
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT r.*, runs.grp FROM results r JOIN runs ON runs.run_id = r.run_id"
                f" WHERE r.run_id = ? {where} ORDER BY r.rowid LIMIT ?",
                (run_id, *args, limit),
            ).fetchall()
        return [
            JobResult(
                ref=JobRef(
                    run_id=row["run_id"],
                    group=row["grp"],
                    list_name=row["list"],
                    job_id=row["job_id"],
                    scheduled_time=row["scheduled"],
                    attempt=row["attempt"],
                ),
                status=JobStatus(row["status"]),
                tries=row["tries"],
                finished_at=datetime.fromisoformat(row["finished_at"]),
                error=row["error"],
                duration_ms=row["duration_ms"],
            )
            for row in rows
        ]


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{col.strip()}" for col in _RUN_COLUMNS.split(","))


def _fetch_run(conn: sqlite3.Connection, run_id: str) -> Run | None:
    row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else _run_from_row(row)


def _insert_run(conn: sqlite3.Connection, run: Run) -> None:
    conn.execute(
        f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join('?' * 17)})",
        (
            run.run_id,
            run.group,
            run.version,
            run.state.value,
            run.reason,
            run.total,
            run.dispatched,
            run.succeeded,
            run.failed,
            run.attempt,
            run.launched,
            run.source,
            run.note,
            int(run.scheduled),
            format_time(run.slot_time),
            format_time(run.opened_at),
            format_time(run.finished_at) if run.finished_at else None,
        ),
    )


def _run_from_row(row: sqlite3.Row) -> Run:
    finished = row["finished_at"]
    return Run(
        run_id=row["run_id"],
        group=row["grp"],
        version=row["version"],
        state=RunState(row["state"]),
        reason=row["reason"],
        total=row["total"],
        dispatched=row["dispatched"],
        succeeded=row["succeeded"],
        failed=row["failed"],
        attempt=row["attempt"],
        launched=row["launched"],
        source=row["source"],
        note=row["note"],
        scheduled=bool(row["scheduled"]),
        slot_time=datetime.fromisoformat(row["slot_time"]),
        opened_at=datetime.fromisoformat(row["opened_at"]),
        finished_at=datetime.fromisoformat(finished) if finished else None,
    )
