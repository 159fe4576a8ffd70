"""Result chunks and progress in the DynamoDB ledger (bridge.domain.chunks).

A batch's chunks for a run are written first (BatchWriteItem, 25 a call), then the
run's progress counters take one ADD of their counts. A chunk's key is its content's
hash, so writing the same chunk again (SQS delivered the batch again, a recorder that
stopped mid-batch is retried) rewrites the same item. The counts are added again
then: counters may run ahead of the truth, never behind it, because every count is
added after its chunk is stored, and a batch leaves the queue only once all its adds
are done. The exact count comes from the recount that ends the run.

No transaction is needed for that, which keeps a result's write to about its own size:
see bench/aws_calls.py for the write units per job.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bridge.aws.ledger.table import (
    BATCH_WRITE,
    DynamoTable,
    item,
    progress_from_item,
    progress_key,
)
from bridge.domain.chunks import SHARDS, ResultChunk, decode_chunk
from bridge.domain.results import JobResult
from bridge.domain.runs import Progress, Run
from bridge.domain.triggers import format_time

__all__ = ["ResultRecords"]


def _chunk_pk(run_id: str, shard: int) -> str:
    return f"res#{run_id}#{shard:02d}"


class ResultRecords(DynamoTable):
    def append_results(self, run_id: str, chunks: Sequence[ResultChunk]) -> int:
        if not chunks:
            return 0
        puts = [
            {
                "PutRequest": {
                    "Item": item(
                        {
                            "pk": _chunk_pk(run_id, chunk.shard),
                            "sk": chunk.key,
                            "b": chunk.body,
                            "expires_at": self._expiry(),
                        }
                    )
                }
            }
            for chunk in chunks
        ]
        for start in range(0, len(puts), BATCH_WRITE):
            self._write_all(puts[start : start + BATCH_WRITE])
        self._db.update_item(
            TableName=self._table,
            Key=item(progress_key(run_id)),
            UpdateExpression="ADD succeeded :s, failed :f, lost :l",
            ExpressionAttributeValues=item(
                {
                    ":s": sum(c.succeeded for c in chunks),
                    ":f": sum(c.failed for c in chunks),
                    ":l": sum(c.lost for c in chunks),
                }
            ),
        )
        return sum(chunk.count for chunk in chunks)

    def stored_results(self, run: Run) -> Iterator[JobResult]:
        scheduled = format_time(run.slot_time)
        for shard in range(SHARDS):
            for found in self._query(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": _chunk_pk(run.run_id, shard)}},
                ConsistentRead=True,
            ):
                yield from decode_chunk(
                    found["b"], run_id=run.run_id, group=run.group, scheduled_time=scheduled
                )

    def progress(self, run_id: str) -> Progress:
        found = self._get(progress_key(run_id))
        return Progress() if found is None else progress_from_item(found)

    def note_recount(self, run_id: str, checked: int, missing: int) -> None:
        self._update_if(
            progress_key(run_id),
            "SET checked = :checked, #missing = :missing",  # MISSING is a reserved word
            "attribute_not_exists(checked) OR checked <= :checked",
            {":checked": checked, ":missing": missing},
            names={"#missing": "missing"},
        )
