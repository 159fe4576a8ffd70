"""What the ledger knows of a run and its jobs, for `runs show`, `runs jobs` and scripts.

A run is named by its id, a unique prefix of it that holds the whole group name
(`nightly.m-3f0c`), or `GROUP@latest`. A job's status is its standing result's, once that result
settles the job at the run's attempt (bridge.domain.tally); until then it is pending.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from bridge.domain.groups import GroupManifest, ListManifest
from bridge.domain.names import NAME_PATTERN
from bridge.domain.results import JobResult, JobStatus
from bridge.domain.runs import Run
from bridge.domain.tally import is_settled, standing_results
from bridge.exceptions import InvalidInput, NotFound, RunNotFound
from bridge.ports import Ledger, Registry

__all__ = [
    "JOB_FIELDS",
    "JOB_STATUSES",
    "LATEST",
    "PENDING",
    "JobPage",
    "JobRow",
    "ListCounts",
    "RunOverview",
    "find_run",
    "job_detail",
    "job_results",
    "job_rows",
    "run_overview",
]

PENDING = "pending"
#: what `--status` takes: a result's status, or pending (no result at the run's attempt yet)
JOB_STATUSES = (*(s.value for s in JobStatus), PENDING)
LATEST = "@latest"
#: how many of a group's newest runs a prefix is matched against
PREFIX_SCAN = 1000
#: candidates an ambiguous prefix names before "and N more"
SHOWN_CANDIDATES = 5


def find_run(ledger: Ledger, text: str) -> Run:
    """The run `text` names: its id, `GROUP@latest`, or a prefix of one run's id.

    RunNotFound if none matches; InvalidInput, listing them, if several do."""
    if text.endswith(LATEST):
        group = text.removesuffix(LATEST)
        newest = ledger.list_runs(group, 1) if NAME_PATTERN.fullmatch(group) else []
        if not newest:
            raise RunNotFound(f"group {group!r} has no runs", hint="see `cronbridge runs list`")
        return newest[0]
    run = ledger.get_run(text)
    if run is not None:
        return run
    group = text.split(".", 1)[0]
    scanned = ledger.list_runs(group, PREFIX_SCAN) if NAME_PATTERN.fullmatch(group) else []
    matches = [r for r in scanned if r.run_id.startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        far = len(scanned) >= PREFIX_SCAN
        raise RunNotFound(
            f"run {text!r} is not in the ledger",
            hint=f"a prefix is matched against the group's last {PREFIX_SCAN:,} runs only: "
            "give the whole id"
            if far
            else f"see `cronbridge runs list{' ' + group if scanned else ''}`",
        )
    shown = ", ".join(r.run_id for r in matches[:SHOWN_CANDIDATES])
    more = len(matches) - SHOWN_CANDIDATES
    raise InvalidInput(
        f"{text!r} matches {len(matches)} runs: {shown}"
        + (f" and {more} more" if more > 0 else ""),
        hint=f"type more of the run id, or `{group}{LATEST}` for the newest",
    )


@dataclass(frozen=True)
class JobRow:
    """One job of a run: its settled result, or pending (`result` is None)."""

    list_name: str
    job_id: str
    status: str  # a JobStatus value, or PENDING
    result: JobResult | None = None
    part: int = -1

    def to_dict(self) -> dict[str, Any]:
        if self.result is not None:
            return self.result.to_dict()
        return {
            "list": self.list_name,
            "part": self.part,
            "job": self.job_id,
            "status": self.status,
            "attempt": None,
            "tries": None,
            "finished_at": None,
            "duration_ms": None,
            "error": None,
            "output": None,
            "truncated": None,
        }


#: the keys of JobRow.to_dict, in order: the columns of `runs jobs --csv`
JOB_FIELDS = tuple(JobRow("", "", PENDING).to_dict())


@dataclass(frozen=True)
class JobPage:
    rows: list[JobRow]
    matched: int | None  # jobs that match the filter; None when pending ones cannot be counted


@dataclass(frozen=True)
class ListCounts:
    name: str
    jobs: int | None  # None: the run's group version is no longer in the registry
    succeeded: int = 0
    failed: int = 0
    lost: int = 0

    @property
    def pending(self) -> int | None:
        if self.jobs is None:
            return None
        return max(0, self.jobs - self.succeeded - self.failed - self.lost)

    def to_dict(self) -> dict[str, Any]:
        return {
            "list": self.name,
            "jobs": self.jobs,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "lost": self.lost,
            "pending": self.pending,
        }


def job_results(
    ledger: Ledger, run_id: str, status: str | None = None, limit: int | None = None
) -> list[JobResult]:
    """Each job's standing result, by list and job id; only `status` ones if given."""
    run = ledger.get_run(run_id)
    if run is None:
        raise RunNotFound(f"run {run_id!r} is not in the ledger", hint="see `cronbridge runs list`")
    standing = standing_results(ledger.stored_results(run))
    chosen = sorted(
        (r for r in standing.values() if status is None or r.status.value == status),
        key=lambda r: (r.ref.list_name, r.ref.job_id),
    )
    return chosen if limit is None else chosen[:limit]


@dataclass(frozen=True)
class RunOverview:
    lists: list[ListCounts]  # by name
    failures: list[JobRow]  # the failed and lost jobs, by list and job id


def run_overview(ledger: Ledger, registry: Registry, run: Run) -> RunOverview:
    """Per job list, its jobs and how many succeeded, failed, were lost or are pending at
    the run's attempt; and the failed and lost jobs. A skipped run has neither."""
    if run.state.never_ran:
        return RunOverview([], [])
    settled = _settled(ledger, run)
    counts: Counter[tuple[str, JobStatus]] = Counter(
        (r.ref.list_name, r.status) for r in settled.values()
    )
    manifest = _manifest(registry, run)
    sizes: dict[str, int | None] = (
        {jl.name: jl.jobs for jl in manifest.lists}
        if manifest is not None
        else {name: None for name, _ in counts}
    )
    lists = [
        ListCounts(
            name,
            sizes[name],
            counts[(name, JobStatus.SUCCEEDED)],
            counts[(name, JobStatus.FAILED)],
            counts[(name, JobStatus.LOST)],
        )
        for name in sorted(sizes)
    ]
    failures = [
        _row(r)
        for r in sorted(settled.values(), key=lambda r: (r.ref.list_name, r.ref.job_id))
        if r.status is not JobStatus.SUCCEEDED
    ]
    return RunOverview(lists, failures)


def job_rows(
    ledger: Ledger,
    registry: Registry,
    run: Run,
    *,
    status: str | None = None,
    list_name: str | None = None,
    limit: int | None = None,
) -> JobPage:
    """The run's jobs with a settled result, by list and job id, then (unless `status`
    names a result's status) its pending ones, by list and position; at most `limit`."""
    if status is not None and status not in JOB_STATUSES:
        raise InvalidInput(f"--status must be one of {', '.join(JOB_STATUSES)}, not {status!r}")
    manifest = _manifest(registry, run)
    if manifest is not None and list_name is not None:
        manifest.job_list(list_name)  # InvalidInput naming the list
    settled = _settled(ledger, run, list_name)
    done = sorted(
        (r for r in settled.values() if status in (None, r.status.value)),
        key=lambda r: (r.ref.list_name, r.ref.job_id),
    )
    rows = [_row(r) for r in done]
    if limit is not None:
        rows = rows[:limit]
    if status not in (None, PENDING) or run.state.never_ran:
        return JobPage(rows, len(done))
    if manifest is None:
        if status == PENDING:
            raise NotFound(
                f"group {run.group!r} v{run.version} is no longer registered: "
                "the jobs without a result cannot be listed"
            )
        return JobPage(rows, None)
    lists = sorted(
        (jl for jl in manifest.lists if list_name in (None, jl.name)), key=lambda jl: jl.name
    )
    pending = sum(jl.jobs for jl in lists) - len(settled)
    room = None if limit is None else max(0, limit - len(rows))
    rows.extend(islice(_pending(registry, run, lists, settled), room))
    return JobPage(rows, len(done) + max(0, pending))


def job_detail(ledger: Ledger, run: Run, job_id: str) -> tuple[JobRow, JobResult | None]:
    """One job: its row, and its latest stored result even when it no longer settles the
    job (an earlier attempt's, while a redrive runs it again)."""
    found = standing_results(r for r in ledger.stored_results(run) if r.ref.job_id == job_id)
    result = found.get(job_id)
    if result is None:
        raise NotFound(
            f"run {run.run_id} has no result for job {job_id!r}",
            hint=f"is it pending? see `cronbridge runs jobs {run.run_id} --status pending`",
        )
    if is_settled(result, run.attempt):
        return _row(result), result
    return JobRow(result.ref.list_name, job_id, PENDING, None, result.ref.part), result


def _row(result: JobResult) -> JobRow:
    ref = result.ref
    return JobRow(ref.list_name, ref.job_id, result.status.value, result, ref.part)


def _settled(ledger: Ledger, run: Run, list_name: str | None = None) -> dict[str, JobResult]:
    """Per job id, the standing result that settles the job at the run's attempt; only
    `list_name`'s results are kept while reading."""
    stored = ledger.stored_results(run)
    if list_name is not None:
        stored = (r for r in stored if r.ref.list_name == list_name)
    return {
        job_id: result
        for job_id, result in standing_results(stored).items()
        if is_settled(result, run.attempt)
    }


def _pending(
    registry: Registry, run: Run, lists: list[ListManifest], settled: dict[str, JobResult]
) -> Iterator[JobRow]:
    """The jobs of `lists` without a settled result, part by part, read only as far as
    the caller takes them; a part whose every job is settled is not read."""
    per_part = Counter((r.ref.list_name, r.ref.part) for r in settled.values())
    for job_list in lists:
        for part, size in enumerate(job_list.parts):
            if per_part[(job_list.name, part)] >= size:
                continue
            for job in registry.read_part(run.group, run.version, job_list.name, part):
                if job.id not in settled:
                    yield JobRow(job_list.name, job.id, PENDING, None, part)


def _manifest(registry: Registry, run: Run) -> GroupManifest | None:
    try:
        return registry.load_manifest(run.group, run.version)
    except NotFound:
        return None
