"""Result chunks and progress in the local ledger: the DynamoDB table's records."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bridge.domain.chunks import ResultChunk, decode_chunk
from bridge.domain.results import JobResult
from bridge.domain.runs import Progress, Run
from bridge.domain.triggers import format_time
from bridge.local.ledger.store import SqliteStore

__all__ = ["ResultRecords"]


class ResultRecords(SqliteStore):
    def append_results(self, run_id: str, chunks: Sequence[ResultChunk]) -> int:
        """As the DynamoDB ledger does: the chunks (the same chunk again is the same row),
        then their counts added to the progress counters, which may so run ahead."""
        if not chunks:
            return 0
        with self._transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO chunks (run_id, chunk_key, shard, body) VALUES (?, ?, ?, ?)",
                [(run_id, c.key, c.shard, c.body) for c in chunks],
            )
            conn.execute(
                "INSERT INTO progress (run_id, succeeded, failed, lost) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (run_id) DO UPDATE SET succeeded = succeeded + excluded.succeeded,"
                " failed = failed + excluded.failed, lost = lost + excluded.lost",
                (
                    run_id,
                    sum(c.succeeded for c in chunks),
                    sum(c.failed for c in chunks),
                    sum(c.lost for c in chunks),
                ),
            )
        return sum(c.count for c in chunks)

    def stored_results(self, run: Run) -> Iterator[JobResult]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT body FROM chunks WHERE run_id = ? ORDER BY rowid", (run.run_id,)
            ).fetchall()
        scheduled = format_time(run.slot_time)
        for row in rows:
            yield from decode_chunk(
                row["body"], run_id=run.run_id, group=run.group, scheduled_time=scheduled
            )

    def progress(self, run_id: str) -> Progress:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT dispatched, succeeded, failed, lost, checked, missing FROM progress"
                " WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        return Progress() if row is None else Progress(*row)

    def note_recount(self, run_id: str, checked: int, missing: int) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE progress SET checked = ?, missing = ? WHERE run_id = ? AND checked <= ?",
                (checked, missing, run_id, checked),
            )
