"""How `runs show` and `runs jobs` print a run's jobs: tables whose cells hold the start
of a return value or an error, one job's whole result, and CSV.

What a worker returned or raised is printed as plain text, never read as markup.
"""

from __future__ import annotations

import csv
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bridge.domain.results import JobResult
from bridge.domain.runs import Run
from bridge.domain.triggers import format_time
from bridge.usecases.jobs import JOB_FIELDS, JobPage, JobRow, ListCounts

__all__ = [
    "counts_table",
    "failures_table",
    "jobs_table",
    "page_note",
    "print_job",
    "write_csv",
]

#: a table cell's share of a job's return value or error: its first line, cut here
CELL_CHARS = 60
_JOB_COLUMNS: list[tuple[str, dict[str, Any]]] = [
    ("list", {"overflow": "fold"}),
    ("job", {"overflow": "fold"}),
    ("status", {"no_wrap": True}),
    ("tries", {"justify": "right", "no_wrap": True}),
    ("duration", {"justify": "right", "no_wrap": True}),
    ("returned", {}),
    ("error", {}),
]


def counts_table(counts: list[ListCounts]) -> Table:
    """Per job list: succeeded, failed, lost, pending and all its jobs."""
    table = Table(title="jobs by list")
    table.add_column("list", overflow="fold")
    for heading in ("succeeded", "failed", "lost", "pending", "jobs"):
        table.add_column(heading, justify="right")
    for c in counts:
        unknown = "?"  # the run's group version is no longer registered
        table.add_row(
            c.name,
            f"{c.succeeded:,}",
            f"{c.failed:,}",
            f"{c.lost:,}",
            unknown if c.pending is None else f"{c.pending:,}",
            unknown if c.jobs is None else f"{c.jobs:,}",
        )
    return table


def failures_table(rows: list[JobRow]) -> Table:
    """Failed and lost jobs with the first line of each one's error."""
    table = Table(title="failed and lost jobs")
    table.add_column("list", overflow="fold")
    table.add_column("job", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("error")
    for row in rows:
        tries, error = ("", "") if row.result is None else (row.result.tries, row.result.error)
        table.add_row(row.list_name, Text(row.job_id), row.status, str(tries), _start(error))
    return table


def jobs_table(rows: list[JobRow]) -> Table:
    """Each job's status, tries, duration and the start of what it returned and raised;
    a column empty in every row (nothing returned, no error) gives its width to the rest."""
    cells: list[tuple[str | Text, ...]] = [
        (row.list_name, Text(row.job_id), row.status, *_result_cells(row.result)) for row in rows
    ]
    used = [i < 3 or any(str(cell[i]) for cell in cells) for i in range(len(_JOB_COLUMNS))]
    table = Table()
    for (heading, options), wanted in zip(_JOB_COLUMNS, used, strict=True):
        if wanted:
            table.add_column(heading, **options)
    for cell in cells:
        table.add_row(*(value for value, wanted in zip(cell, used, strict=True) if wanted))
    return table


def print_job(console: Console, run: Run, row: JobRow, latest: JobResult | None) -> None:
    """One job's whole result: what it returned and its whole error. `latest` is its
    latest stored result, an earlier attempt's while it is pending again."""
    console.print(
        f"job {row.job_id} of list {row.list_name}, run {run.run_id}: {row.status}", markup=False
    )
    if latest is None:
        return
    if row.result is None:
        console.print(
            f"  it has no result at attempt {run.attempt} yet; "
            f"its result at attempt {latest.ref.attempt}:",
            markup=False,
        )
    duration = "" if latest.duration_ms is None else f", {_duration(latest.duration_ms)}"
    console.print(
        f"  {latest.status.value} at attempt {latest.ref.attempt} after {latest.tries} tries"
        f"{duration}, finished {format_time(latest.finished_at)}",
        markup=False,
    )
    if latest.output is not None:
        cut = " (cut: the whole value was longer)" if latest.truncated else ""
        console.print(f"returned{cut}:", markup=False)
        console.print(latest.output, markup=False, highlight=False)
    if latest.error:
        console.print("error:", markup=False)
        console.print(latest.error, markup=False, highlight=False)


def write_csv(rows: list[JobRow]) -> None:
    """The rows as CSV on stdout: the columns of JobRow.to_dict, empty for none."""
    writer = csv.DictWriter(sys.stdout, fieldnames=JOB_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(v) for k, v in row.to_dict().items()})
    sys.stdout.flush()


def page_note(page: JobPage, run: Run) -> str | None:
    """What a page leaves out, or None when it holds every matching job."""
    if page.matched is not None and page.matched <= len(page.rows):
        return None
    total = "more" if page.matched is None else f"{page.matched:,}"
    return (
        f"{len(page.rows):,} of {total} job(s) shown; --limit N for more, --limit 0 for all"
        f" (run {run.run_id})"
    )


def _result_cells(result: JobResult | None) -> tuple[str, str, Text, Text]:
    if result is None:
        return ("", "", Text(), Text())
    returned = _start(result.output or "")
    if result.truncated:
        returned = _start(f"(cut) {result.output or ''}")
    duration = "" if result.duration_ms is None else _duration(result.duration_ms)
    return (str(result.tries), duration, returned, _start(result.error))


def _start(text: str) -> Text:
    """The first line of a job's return value or error, at most CELL_CHARS of it, on one
    line cut to its column: the table narrows these columns before the others."""
    first = text.split("\n", 1)[0]
    shown = first if len(first) <= CELL_CHARS else first[: CELL_CHARS - 1] + "…"
    return Text(shown, no_wrap=True, overflow="ellipsis")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _duration(ms: float) -> str:
    return f"{ms:,.0f} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"
