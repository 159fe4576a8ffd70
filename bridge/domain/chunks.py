"""Job results as the ledger stores them: compact chunks spread over shards (DESIGN.md §3.5).

A recorder batch holds many results of a run. They are written as a few chunk items
of up to `CHUNK_BYTES` each instead of one item per job: DynamoDB bills a write by the
kilobyte of the item written (rounded up), so a chunk of a hundred small results costs
about what one result alone would, and no per-job write is needed to count.

Chunks are spread over `SHARDS` partition keys, chosen by the chunk's own content, so
no key takes more than a small share of a big run's writes (DynamoDB serves at most
1,000 write units per second per partition).

A chunk's key is a hash of its content: the same batch delivered again (SQS redelivers
a batch whose recorder stopped) makes the same chunks under the same keys, and writing
one again changes nothing. A result that arrives again in another batch lands in
another chunk; reading resolves it (see `bridge.domain.tally`), so final counts are
exact whatever arrives twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.domain.results import JobRef, JobResult, JobStatus

__all__ = ["CHUNK_BYTES", "CHUNK_JOBS", "SHARDS", "ResultChunk", "decode_chunk", "make_chunks"]

#: partition keys a run's results are spread over
SHARDS = 16
#: a chunk closes before its body passes this many bytes (one big result may be alone)
CHUNK_BYTES = 8 * 1024
#: and at this many results
CHUNK_JOBS = 250

_CODES = {JobStatus.SUCCEEDED: "s", JobStatus.FAILED: "f", JobStatus.LOST: "l"}
_STATUSES = {code: status for status, code in _CODES.items()}


@dataclass(frozen=True)
class ResultChunk:
    key: str  # hex digest of the body: equal content, equal key
    shard: int
    body: str  # compact JSON: {"t": base epoch ms, "r": [entry, ...]}
    succeeded: int
    failed: int
    lost: int

    @property
    def count(self) -> int:
        return self.succeeded + self.failed + self.lost


def make_chunks(results: Sequence[JobResult], shards: int = SHARDS) -> list[ResultChunk]:
    """The chunks that hold `results` (all of one run), in a stable order."""
    ordered = sorted(results, key=lambda r: (r.ref.list_name, r.ref.job_id, r.ref.attempt))
    groups: list[list[JobResult]] = []
    size = 0
    for result in ordered:
        entry = len(json.dumps(_entry(result, 0), ensure_ascii=False)) + 1
        if not groups or size + entry > CHUNK_BYTES or len(groups[-1]) >= CHUNK_JOBS:
            groups.append([])
            size = 0
        groups[-1].append(result)
        size += entry
    return [_chunk(group, shards) for group in groups]


def decode_chunk(body: str, *, run_id: str, group: str, scheduled_time: str) -> list[JobResult]:
    """The results a chunk body holds; ValueError if it is not a chunk body."""
    data = json.loads(body)
    base = int(data["t"])
    return [_result(entry, base, run_id, group, scheduled_time) for entry in data["r"]]


def _chunk(group: Sequence[JobResult], shards: int) -> ResultChunk:
    base = min(_millis(r.finished_at) for r in group)
    body = json.dumps(
        {"t": base, "r": [_entry(r, base) for r in group]},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    key = hashlib.sha256(body.encode()).hexdigest()[:32]
    statuses = [r.status for r in group]
    return ResultChunk(
        key=key,
        shard=int(key[:8], 16) % shards,
        body=body,
        succeeded=statuses.count(JobStatus.SUCCEEDED),
        failed=statuses.count(JobStatus.FAILED),
        lost=statuses.count(JobStatus.LOST),
    )


def _entry(result: JobResult, base: int) -> list[Any]:
    ref = result.ref
    duration = None if result.duration_ms is None else round(result.duration_ms)
    entry: list[Any] = [
        ref.list_name,
        ref.part,
        ref.job_id,
        _CODES[result.status],
        ref.attempt,
        result.tries,
        _millis(result.finished_at) - base,
        duration,
        result.error,
        result.output,
        int(result.truncated),
    ]
    defaults: list[Any] = [None, "", None, 0]
    while len(entry) > 7 and entry[-1] == defaults[len(entry) - 8]:
        entry.pop()
    return entry


def _result(entry: list[Any], base: int, run_id: str, group: str, scheduled: str) -> JobResult:
    padded = entry + [None, "", None, 0][len(entry) - 7 :]
    list_name, part, job, code, attempt, tries, offset, duration, error, output, cut = padded
    return JobResult(
        ref=JobRef(run_id, group, str(list_name), str(job), scheduled, int(attempt), int(part)),
        status=_STATUSES[code],
        tries=int(tries),
        finished_at=datetime.fromtimestamp((base + int(offset)) / 1000, UTC),
        error=str(error or ""),
        duration_ms=None if duration is None else float(duration),
        output=None if output is None else str(output),
        truncated=bool(cut),
    )


def _millis(when: datetime) -> int:
    return round(when.timestamp() * 1000)
