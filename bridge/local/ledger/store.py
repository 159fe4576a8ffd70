"""The SQLite file the local ledger lives in: schema, connections, transactions.

WAL mode, so `cronbridge runs watch` reads while `cronbridge serve` writes; every
change that must be all-or-nothing runs in one `BEGIN IMMEDIATE` transaction.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["SCHEMA", "SqliteStore"]

log = logging.getLogger("cronbridge.local.ledger")

# The same records as the DynamoDB table (bridge.aws.ledger): runs with their exact
# final counts, approximate progress, part markers, send sets, result chunks, how far
# each schedule was checked for missed slots, and run events (kept once; pending until
# delivered).
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    grp         TEXT NOT NULL,
    version     INTEGER NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    total       INTEGER NOT NULL,
    succeeded   INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    lost        INTEGER NOT NULL DEFAULT 0,
    attempt     INTEGER NOT NULL DEFAULT 1,
    launched    INTEGER NOT NULL DEFAULT 0,
    deadline    TEXT,
    resent      INTEGER NOT NULL DEFAULT 0,
    source      TEXT NOT NULL,
    note        TEXT NOT NULL,
    scheduled   INTEGER NOT NULL,
    slot_time   TEXT NOT NULL,
    opened_at   TEXT NOT NULL,
    finished_at TEXT,
    tolerated   TEXT NOT NULL DEFAULT '0'
);
CREATE INDEX IF NOT EXISTS runs_by_group ON runs (grp);
CREATE INDEX IF NOT EXISTS runs_by_state ON runs (state);
CREATE TABLE IF NOT EXISTS heads (
    grp    TEXT PRIMARY KEY,
    run_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS progress (
    run_id     TEXT PRIMARY KEY,
    dispatched INTEGER NOT NULL DEFAULT 0,
    succeeded  INTEGER NOT NULL DEFAULT 0,
    failed     INTEGER NOT NULL DEFAULT 0,
    lost       INTEGER NOT NULL DEFAULT 0,
    checked    INTEGER NOT NULL DEFAULT 0,
    missing    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS parts (
    run_id  TEXT NOT NULL,
    list    TEXT NOT NULL,
    part    INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    only    TEXT NOT NULL,
    jobs    INTEGER NOT NULL,
    PRIMARY KEY (run_id, list, part, attempt, only)
);
CREATE TABLE IF NOT EXISTS send_sets (
    run_id  TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    only    TEXT NOT NULL,
    list    TEXT NOT NULL,
    part    INTEGER NOT NULL,
    jobs    TEXT,
    PRIMARY KEY (run_id, attempt, only, list, part)
);
CREATE TABLE IF NOT EXISTS lanes (
    run_id     TEXT NOT NULL,
    lane       TEXT NOT NULL,
    wake       INTEGER NOT NULL,
    held_until REAL NOT NULL,
    PRIMARY KEY (run_id, lane)
);
CREATE TABLE IF NOT EXISTS slot_marks (
    grp     TEXT PRIMARY KEY,
    checked TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    event_key  TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    pending    INTEGER NOT NULL DEFAULT 1,
    tries      INTEGER NOT NULL DEFAULT 0,
    next_try   TEXT,
    targets    TEXT,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_pending ON events (pending);
CREATE TABLE IF NOT EXISTS chunks (
    run_id    TEXT NOT NULL,
    chunk_key TEXT NOT NULL,
    shard     INTEGER NOT NULL,
    body      TEXT NOT NULL,
    PRIMARY KEY (run_id, chunk_key)
);
"""


class SqliteStore:
    """A pool of connections to one ledger file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _set_aside_an_older_layout(path)
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self._connection() as conn:
            conn.executescript(SCHEMA)
            _add_new_columns(conn)

    def close(self) -> None:
        """Close every connection; the ledger opens new ones if it is used again."""
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
            while not self._idle.empty():
                self._idle.get_nowait()

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


def _add_new_columns(conn: sqlite3.Connection) -> None:
    """Columns added since a ledger file was made: its rows read the column's default."""
    have = {row["name"] for row in conn.execute("PRAGMA table_info(runs)")}
    if "tolerated" not in have:  # a run opened before tolerated failures tolerates none
        with contextlib.suppress(sqlite3.OperationalError):  # another process added it
            conn.execute("ALTER TABLE runs ADD COLUMN tolerated TEXT NOT NULL DEFAULT '0'")


def _set_aside_an_older_layout(path: Path) -> None:
    """A ledger file of the layout before result chunks (a `results` table) is renamed,
    not read: its runs cannot be finished by this version (see the README, Upgrading)."""
    if not path.exists():
        return
    conn = sqlite3.connect(path, timeout=30)
    try:
        old = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'results'"
        ).fetchone()
    finally:
        conn.close()
    if old:
        aside = path.with_name(f"{path.name}.v1-{int(time.time())}")
        path.rename(aside)
        for suffix in ("-wal", "-shm"):
            extra = path.with_name(path.name + suffix)
            if extra.exists():
                extra.rename(aside.with_name(aside.name + suffix))
        log.warning("ledger of an older layout set aside", extra={"path": str(aside)})
