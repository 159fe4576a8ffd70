"""Sending a run's jobs that have no result yet once more: what the deadline's sweep,
`runs resume` and a restarted `cronbridge serve` share."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

from bridge.domain.groups import GroupManifest
from bridge.domain.plan import root_units
from bridge.domain.results import JobResult
from bridge.domain.runs import Run
from bridge.domain.tally import is_settled
from bridge.domain.triggers import format_time
from bridge.ports import Ledger, PublisherInvoker, Registry, SendSet

__all__ = ["missing_jobs", "resend_missing", "resend_tag"]


def resend_tag(now: datetime) -> str:
    """A send set of its own for each resend by hand or by a restart."""
    return "resume-" + format_time(now)


def missing_jobs(
    run: Run,
    manifest: GroupManifest,
    standing: Mapping[str, JobResult],
    registry: Registry,
    *,
    need_ids: bool,
) -> dict[tuple[str, int], SendSet]:
    """Per (list, part), the jobs that are not settled at the run's attempt.

    A part none of whose jobs has a result is SendSet(None), every job, unless
    `need_ids`: then, as for every partly settled part, the registry's part is read.
    """
    settled_per_part: dict[tuple[str, int], int] = defaultdict(int)
    settled: dict[str, set[str]] = defaultdict(set)
    unplaced: set[str] = set()  # lists with a settled result whose part is unknown
    for result in standing.values():
        if is_settled(result, run.attempt):
            ref = result.ref
            settled[ref.list_name].add(ref.job_id)
            if ref.part < 0:
                unplaced.add(ref.list_name)
            else:
                settled_per_part[(ref.list_name, ref.part)] += 1
    out: dict[tuple[str, int], SendSet] = {}
    for job_list in manifest.lists:
        for part, size in enumerate(job_list.parts):
            done = settled_per_part[(job_list.name, part)]
            if done >= size:
                continue
            if done == 0 and not need_ids and job_list.name not in unplaced:
                out[(job_list.name, part)] = SendSet(None)
                continue
            ids = frozenset(
                job.id
                for job in registry.read_part(run.group, run.version, job_list.name, part)
                if job.id not in settled[job_list.name]
            )
            if ids:
                out[(job_list.name, part)] = SendSet(ids)
    return out


def resend_missing(
    run: Run,
    manifest: GroupManifest,
    sets: Mapping[tuple[str, int], SendSet],
    tag: str,
    *,
    ledger: Ledger,
    publishers: PublisherInvoker,
) -> int:
    """Store the send sets and start publishers for the lists that have one; the
    number of publishers started."""
    if not sets:
        return 0
    ledger.put_send_sets(run.run_id, run.attempt, tag, sets)
    lists = frozenset(list_name for list_name, _ in sets)
    units = root_units(
        run.run_id, manifest, format_time(run.slot_time), run.attempt, only=tag, lists=lists
    )
    publishers.invoke_publishers(units)
    return len(units)
