"""Where the worker helper keeps its claims: DynamoDB on AWS, the SQLite ledger locally.

A claim on (run, job) is `running` (held by one attempt, its `owner`) or `done` (with
the result). A running claim is taken over, by a conditional write, when the attempt
holding it can no longer be running:

- its lease has passed: the lease is the attempt's own deadline (Lambda ends an
  attempt at its timeout) plus a margin, or LEASE_SECONDS when no deadline was known;
- locally, at once, when the process that held it is gone. Each SqliteClaims is a
  *holder* that keeps an exclusive `flock` on a file of its own for as long as it
  lives; the kernel drops that lock when the process dies, even by `kill -9`, so a
  lock another store can take means its holder is gone. Within one holder, a claim
  is running exactly while the attempt that made it has not finished: a local attempt
  past its timeout is not cut short, so it keeps its claim until it ends.

Standard library and boto3 only: this runs in workers on Lambda.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
import threading
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bridge.domain.results import JobRef

__all__ = ["LEASE_SECONDS", "Claim", "ClaimStore", "DynamoClaims", "SqliteClaims", "default_claims"]

#: a claim's lease when its attempt's deadline is unknown (Lambda's longest timeout)
LEASE_SECONDS = 900


@dataclass(frozen=True)
class Claim:
    state: str  # "acquired" | "done" | "busy"
    result: Any = None


class ClaimStore(Protocol):
    def claim(self, ref: JobRef, owner: str, now: float, lease_until: float | None = None) -> Claim:
        """Acquire (run, job) for `owner` until `lease_until` (default: now +
        LEASE_SECONDS), or say it is done (with its result) or busy."""
        ...

    def complete(self, ref: JobRef, owner: str, result: Any) -> None: ...
    def release(self, ref: JobRef, owner: str) -> None: ...


class DynamoClaims:
    """Claim items, one partition key each: (`claim#<run>#<job>`, `claim`)."""

    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def _key(self, ref: JobRef) -> dict[str, Any]:
        return {"pk": {"S": f"claim#{ref.run_id}#{ref.job_id}"}, "sk": {"S": "claim"}}

    def claim(self, ref: JobRef, owner: str, now: float, lease_until: float | None = None) -> Claim:
        item = {
            **self._key(ref),
            "state": {"S": "running"},
            "owner": {"S": owner},
            "lease_until": {"N": str(now + LEASE_SECONDS if lease_until is None else lease_until)},
            "expires_at": {"N": str(int(now) + 90 * 86400)},
        }
        if self._put(item, "attribute_not_exists(pk)"):
            return Claim("acquired")
        held = self._db.get_item(
            TableName=self._table, Key=self._key(ref), ConsistentRead=True
        ).get("Item")
        if held is None:
            return Claim("busy")  # released between our write and our read: look again
        if held["state"]["S"] == "done":
            return Claim("done", json.loads(held.get("result", {}).get("S", "null")))
        if float(held["lease_until"]["N"]) >= now:
            return Claim("busy")
        # Its attempt is over: take it from that owner, and only from that owner, so of
        # two attempts that both saw it expire exactly one wins.
        taken = self._put(
            item,
            "#state = :running AND #owner = :seen AND lease_until < :now",
            names={"#state": "state", "#owner": "owner"},
            values={":running": {"S": "running"}, ":seen": held["owner"], ":now": {"N": str(now)}},
        )
        return Claim("acquired" if taken else "busy")

    def _put(
        self,
        item: dict[str, Any],
        condition: str,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> bool:
        """Write `item` if `condition` holds; whether it did."""
        from botocore.exceptions import ClientError

        expression: dict[str, Any] = {"ConditionExpression": condition}
        if names:
            expression["ExpressionAttributeNames"] = names
        if values:
            expression["ExpressionAttributeValues"] = values
        try:
            self._db.put_item(TableName=self._table, Item=item, **expression)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def complete(self, ref: JobRef, owner: str, result: Any) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=self._key(ref),
            UpdateExpression="SET #state = :done, #result = :result",
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#state": "state", "#result": "result", "#owner": "owner"},
            ExpressionAttributeValues={
                ":done": {"S": "done"},
                ":result": {"S": json.dumps(result, default=str)},
                ":owner": {"S": owner},
            },
        )

    def release(self, ref: JobRef, owner: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._db.delete_item(
                TableName=self._table,
                Key=self._key(ref),
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise


_HOLDER = re.compile(r"[0-9a-f]{32}")


class SqliteClaims:
    """The same claims in the local ledger file, for workers run by `cronbridge serve`.

    Each store is a holder (see the module docstring): its lock file lives in
    `<ledger>.holders/`, and is released when the store is collected or its process ends.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._holders = path.with_name(path.name + ".holders")
        self._holders.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._forget_dead_holders()
        self._holder, lock = _hold(self._holders)
        weakref.finalize(self, os.close, lock)
        #: (run, job, owner) of the claims this holder's attempts hold and are running
        self._running: set[tuple[str, str, str]] = set()
        self._running_lock = threading.Lock()
        with contextlib.closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS claims (run_id TEXT, job_id TEXT, state TEXT,"
                " owner TEXT, lease_until REAL, result TEXT, holder TEXT,"
                " PRIMARY KEY (run_id, job_id))"
            )
            columns = {row[1] for row in conn.execute("PRAGMA table_info(claims)")}
            if "holder" not in columns:  # a ledger from before holders: its claims have none
                conn.execute("ALTER TABLE claims ADD COLUMN holder TEXT")
            conn.execute("COMMIT")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def claim(self, ref: JobRef, owner: str, now: float, lease_until: float | None = None) -> Claim:
        lease = now + LEASE_SECONDS if lease_until is None else lease_until
        key = (ref.run_id, ref.job_id)
        with contextlib.closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT state, owner, holder, lease_until, result FROM claims"
                    " WHERE run_id = ? AND job_id = ?",
                    key,
                ).fetchone()
                if row is None:
                    conn.execute(
                        "INSERT INTO claims (run_id, job_id, state, owner, lease_until, holder)"
                        " VALUES (?, ?, 'running', ?, ?, ?)",
                        (*key, owner, lease, self._holder),
                    )
                    acquired = True
                elif row[0] == "done":
                    return Claim("done", json.loads(row[4] or "null"))
                elif self._is_over(ref, row[1], row[2], row[3], now):
                    taken = conn.execute(
                        "UPDATE claims SET owner = ?, lease_until = ?, holder = ?"
                        " WHERE run_id = ? AND job_id = ? AND state = 'running' AND owner = ?",
                        (owner, lease, self._holder, *key, row[1]),
                    )
                    acquired = taken.rowcount == 1
                else:
                    acquired = False
                if acquired:  # before the commit: no other thread may see it not running
                    with self._running_lock:
                        self._running.add((*key, owner))
            finally:
                conn.execute("COMMIT")
        return Claim("acquired" if acquired else "busy")

    def _is_over(
        self, ref: JobRef, owner: str, holder: str | None, lease_until: float, now: float
    ) -> bool:
        """Whether the attempt holding a running claim can no longer be running."""
        if holder == self._holder:
            with self._running_lock:
                return (ref.run_id, ref.job_id, owner) not in self._running
        if lease_until < now:
            return True
        return holder is not None and not _holder_alive(self._holders, holder)

    def complete(self, ref: JobRef, owner: str, result: Any) -> None:
        try:
            with contextlib.closing(self._connect()) as conn:
                conn.execute(
                    "UPDATE claims SET state = 'done', result = ?"
                    " WHERE run_id = ? AND job_id = ? AND owner = ?",
                    (json.dumps(result, default=str), ref.run_id, ref.job_id, owner),
                )
        finally:
            self._finished(ref, owner)

    def release(self, ref: JobRef, owner: str) -> None:
        try:
            with contextlib.closing(self._connect()) as conn:
                conn.execute(
                    "DELETE FROM claims WHERE run_id = ? AND job_id = ? AND owner = ?",
                    (ref.run_id, ref.job_id, owner),
                )
        finally:
            self._finished(ref, owner)

    def _finished(self, ref: JobRef, owner: str) -> None:
        """The attempt has ended: a claim it could not close may be taken over."""
        with self._running_lock:
            self._running.discard((ref.run_id, ref.job_id, owner))

    def _forget_dead_holders(self) -> None:
        """Remove the lock files of holders that are gone (each ended process leaves its own)."""
        for path in self._holders.glob("*.lock"):
            _holder_alive(self._holders, path.stem)


def _hold(directory: Path) -> tuple[str, int]:
    """A new holder id and the descriptor of its lock file, locked before it is visible
    under its name: a lock file anyone can lock belongs to a holder that is gone."""
    holder = uuid.uuid4().hex
    making = directory / f".{holder}.new"
    fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(making, directory / f"{holder}.lock")
    except BaseException:
        os.close(fd)
        raise
    return holder, fd


def _holder_alive(directory: Path, holder: str) -> bool:
    """Whether the holder's process still holds its lock; a gone holder's file is removed
    (a holder id is never used again, so gone stays gone)."""
    if not _HOLDER.fullmatch(holder):
        return True  # not one of ours: only its lease can end it
    path = directory / f"{holder}.lock"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        # Shared: checkers never stand in each other's way, only the holder's own lock does.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        path.unlink(missing_ok=True)
        return False
    finally:
        os.close(fd)


def default_claims() -> ClaimStore:
    table = os.environ.get("CRONBRIDGE_LEDGER_TABLE")
    if table:
        import boto3

        return DynamoClaims(boto3.client("dynamodb"), table)
    home = os.environ.get("CRONBRIDGE_HOME") or str(Path.home() / ".cronbridge")
    return SqliteClaims(Path(home).expanduser() / "ledger.sqlite3")
