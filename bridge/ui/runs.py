"""What a run's page and a job's page show, read through the CLI's ports.

A run's per-list bars, its failed and lost jobs and its results-per-second chart all
come from one pass over its stored results (bridge.domain.tally says which result of a
job stands). That pass is the page's whole cost for a big run, so it is kept per run
and the counters it was made at: a finished run is read once, and while a run goes the
live region reuses a pass younger than a few times what it took (the counters shown
are always the run's own, read fresh). What failed to read is never kept.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from bridge.cli.backend import Backend
from bridge.cli.progress import shown
from bridge.domain.groups import GroupManifest
from bridge.domain.plan import PublisherUnit
from bridge.domain.results import JobResult, JobStatus, build_envelope
from bridge.domain.runs import Run, RunState
from bridge.domain.tally import is_settled, standing_results
from bridge.exceptions import NotFound
from bridge.ui.groups import PAGE_SIZE
from bridge.usecases.jobs import JOB_STATUSES, JobRow, ListCounts, job_detail, job_rows

__all__ = [
    "FAILURE_STATUSES",
    "JobFilter",
    "JobListView",
    "JobView",
    "RunAnalysis",
    "RunReader",
    "RunView",
    "first_line",
]

#: what the failed-jobs table filters on
FAILURE_STATUSES = (JobStatus.FAILED.value, JobStatus.LOST.value)
#: points of the results-per-second chart at most
RATE_POINTS = 240
#: a live pass is reused while younger than this many times what it took (and 1 s)
REUSE_FACTOR = 3.0
_KEPT = 8


def first_line(text: str) -> str:
    return text.split("\n", 1)[0]


@dataclass(frozen=True)
class JobFilter:
    """`?status=S&list=L&page=N`: which jobs a table shows, 50 a page."""

    status: str | None = None
    list_name: str | None = None
    page: int = 1

    @classmethod
    def from_query(cls, query: Mapping[str, str], statuses: tuple[str, ...]) -> JobFilter:
        from bridge.ui.groups import page_number

        status = query.get("status") or None
        return cls(
            status=status if status in statuses else None,
            list_name=query.get("list") or None,
            page=page_number(query.get("page")),
        )

    def query(self, page: int | None = None) -> str:
        """This filter as a query string, at `page` (default: its own)."""
        pairs = {"status": self.status, "list": self.list_name, "page": page or self.page}
        return urlencode({k: v for k, v in pairs.items() if v not in (None, "", 1)})


@dataclass(frozen=True)
class RunAnalysis:
    lists: list[ListCounts]
    failures: list[JobRow]  # failed and lost, by list and job id
    rate: dict[str, list[float]]  # uPlot's columns: "at" (epoch s), "per_second"
    made: float  # time.monotonic() when it was made
    took: float  # seconds the pass took


@dataclass(frozen=True)
class RunView:
    run: Run
    analysis: RunAnalysis
    failures: list[JobRow]  # this page's
    matched: int  # failed and lost jobs the filter keeps
    filter: JobFilter

    @property
    def has_next(self) -> bool:
        return self.matched > self.filter.page * PAGE_SIZE

    @property
    def live(self) -> bool:
        return self.run.state is RunState.RUNNING

    @property
    def can_redrive(self) -> bool:
        """A failed run's failed and lost jobs (or those a succeeded run tolerated)."""
        return self.run.redrivable

    @property
    def can_cancel(self) -> bool:
        return self.run.state is RunState.RUNNING

    @property
    def can_resume(self) -> bool:
        return self.run.state in (RunState.RUNNING, RunState.CANCELLED)


@dataclass(frozen=True)
class JobListView:
    run: Run
    rows: list[JobRow]  # this page's
    has_next: bool
    filter: JobFilter
    lists: list[str]


@dataclass(frozen=True)
class JobView:
    run: Run
    row: JobRow
    latest: JobResult | None  # its latest stored result (an earlier attempt's if pending)
    envelope: dict[str, Any] | None  # what its worker received, if its part still loads


class RunReader:
    """Reads runs for the pages, keeping the passes over their results (see above) and
    the group manifests runs pin (a version never changes once written)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._passes: OrderedDict[tuple[str, str], tuple[tuple[Any, ...], RunAnalysis]] = (
            OrderedDict()
        )
        self._reading: dict[tuple[str, str], threading.Lock] = {}
        self._manifests: dict[tuple[str, str, int], GroupManifest] = {}

    def run_view(self, where: Backend, run: Run, query: Mapping[str, str]) -> RunView:
        run = shown(run)
        analysis = self.analysis(where, run)
        chosen = JobFilter.from_query(query, FAILURE_STATUSES)
        kept = [
            row
            for row in analysis.failures
            if chosen.status in (None, row.status) and chosen.list_name in (None, row.list_name)
        ]
        start = (chosen.page - 1) * PAGE_SIZE
        return RunView(run, analysis, kept[start : start + PAGE_SIZE], len(kept), chosen)

    def analysis(self, where: Backend, run: Run) -> RunAnalysis:
        key = (where.name, run.run_id)
        stamp = (run.state, run.attempt, run.succeeded, run.failed, run.lost, run.finished_at)
        with self._lock:
            one_at_a_time = self._reading.setdefault(key, threading.Lock())
        with one_at_a_time:  # a page and its poll arriving together make one pass, not two
            with self._lock:
                kept = self._passes.get(key)
            if kept is not None and _still_good(kept[0], kept[1], stamp, run):
                return kept[1]
            analysis = self._analyse(where, run)
            with self._lock:
                self._passes[key] = (stamp, analysis)
                self._passes.move_to_end(key)
                while len(self._passes) > _KEPT:
                    gone, _ = self._passes.popitem(last=False)
                    self._reading.pop(gone, None)
            return analysis

    def job_list(self, where: Backend, run: Run, query: Mapping[str, str]) -> JobListView:
        chosen = JobFilter.from_query(query, JOB_STATUSES)
        manifest = self._manifest(where, run)
        names = [jl.name for jl in manifest.lists] if manifest else []
        if chosen.list_name is not None and manifest is not None and chosen.list_name not in names:
            raise NotFound(f"run {run.run_id} has no job list {chosen.list_name!r}")
        found = job_rows(
            where.ledger,
            where.registry,
            run,
            status=chosen.status,
            list_name=chosen.list_name,
            limit=chosen.page * PAGE_SIZE + 1,
        )
        start = (chosen.page - 1) * PAGE_SIZE
        return JobListView(
            shown(run),
            found.rows[start : start + PAGE_SIZE],
            len(found.rows) > chosen.page * PAGE_SIZE,
            chosen,
            names,
        )

    def job_view(self, where: Backend, run: Run, job_id: str) -> JobView:
        """NotFound for a job with no result in the run."""
        row, latest = job_detail(where.ledger, run, job_id)
        return JobView(shown(run), row, latest, self._envelope(where, run, latest))

    def _analyse(self, where: Backend, run: Run) -> RunAnalysis:
        began = time.monotonic()
        manifest = self._manifest(where, run)
        sizes: dict[str, int | None] = (
            {jl.name: jl.jobs for jl in manifest.lists} if manifest is not None else {}
        )
        counts: Counter[tuple[str, JobStatus]] = Counter()
        finished: list[float] = []
        failures: list[JobResult] = []
        if not run.state.never_ran:
            for result in standing_results(where.ledger.stored_results(run)).values():
                if not is_settled(result, run.attempt):
                    continue
                counts[(result.ref.list_name, result.status)] += 1
                finished.append(result.finished_at.timestamp())
                if result.status is not JobStatus.SUCCEEDED:
                    failures.append(result)
        for name, _ in counts:
            sizes.setdefault(name, None)
        failures.sort(key=lambda r: (r.ref.list_name, r.ref.job_id))
        return RunAnalysis(
            lists=[
                ListCounts(
                    name,
                    sizes[name],
                    succeeded=counts[(name, JobStatus.SUCCEEDED)],
                    failed=counts[(name, JobStatus.FAILED)],
                    lost=counts[(name, JobStatus.LOST)],
                )
                for name in sorted(sizes)
            ],
            failures=[
                JobRow(r.ref.list_name, r.ref.job_id, r.status.value, r, r.ref.part)
                for r in failures
            ],
            rate=_rate(finished),
            made=time.monotonic(),
            took=time.monotonic() - began,
        )

    def _manifest(self, where: Backend, run: Run) -> GroupManifest | None:
        key = (where.name, run.group, run.version)
        if key not in self._manifests:
            try:
                self._manifests[key] = where.registry.load_manifest(run.group, run.version)
            except NotFound:
                return None  # the group or its version was deleted; asked again next time
        return self._manifests[key]

    def _envelope(
        self, where: Backend, run: Run, latest: JobResult | None
    ) -> dict[str, Any] | None:
        if latest is None or latest.ref.part < 0:
            return None
        ref = latest.ref
        try:
            jobs = where.registry.read_part(run.group, run.version, ref.list_name, ref.part)
            job = next((job for job in jobs if job.id == ref.job_id), None)
        except NotFound:
            return None
        if job is None:
            return None
        unit = PublisherUnit(
            run.run_id,
            run.group,
            run.version,
            ref.list_name,
            ref.part,
            ref.part + 1,
            ref.scheduled_time,
            attempt=ref.attempt,
        )
        return build_envelope(unit, job)


def _still_good(
    stamp: tuple[Any, ...], analysis: RunAnalysis, now: tuple[Any, ...], run: Run
) -> bool:
    """Whether a pass made at `stamp` may stand for the run at `now`: the same counters,
    or (while it runs, at the same attempt) young enough."""
    if stamp == now:
        return True
    young = time.monotonic() - analysis.made < max(1.0, REUSE_FACTOR * analysis.took)
    return run.state is RunState.RUNNING and stamp[:2] == now[:2] and young


def _rate(finished: list[float]) -> dict[str, list[float]]:
    """Results per second over time, in at most RATE_POINTS buckets of whole seconds."""
    if not finished:
        return {"at": [], "per_second": []}
    start, end = math.floor(min(finished)), max(finished)
    width = max(1, math.ceil((end - start) / RATE_POINTS))
    buckets = Counter(int((stamp - start) // width) for stamp in finished)
    last = max(buckets)
    return {
        "at": [float(start + i * width) for i in range(last + 1)],
        "per_second": [buckets[i] / width for i in range(last + 1)],
    }
