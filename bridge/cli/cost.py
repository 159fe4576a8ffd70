"""`cronbridge cost GROUP --runs-per-day N`: a month of the group on AWS, three ways."""

from __future__ import annotations

import math
from typing import Annotated

import typer
from rich.table import Table

from bridge.cli.app import app, backend, out, print_json
from bridge.domain.cost import PRICES_AS_OF, WorkerProfile, estimate
from bridge.exceptions import InvalidInput

__all__ = ["cost"]

APPROACHES = {
    "cronbridge": "cronbridge",
    "step-functions-standard": "Step Functions, Standard (a Map over the jobs)",
    "step-functions-distributed-map": "Step Functions, Distributed Map (Express children)",
}


@app.command("cost")
def cost(
    group: Annotated[str, typer.Argument(metavar="GROUP", help="A registered group.")],
    runs_per_day: Annotated[
        float, typer.Option(metavar="N", help="How often the schedule fires a day.")
    ],
    worker_ms: Annotated[
        float, typer.Option(metavar="MS", help="A job's average duration on its worker, in ms.")
    ] = 100.0,
    worker_mb: Annotated[
        int, typer.Option(metavar="MB", help="The worker function's memory, in MB.")
    ] = 128,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """A month of GROUP on AWS at list prices, next to Step Functions.

    Prices are us-east-1 list prices, dated in bridge/domain/cost.py, before free tiers.
    """
    if not (math.isfinite(runs_per_day) and runs_per_day > 0):
        raise InvalidInput(
            f"--runs-per-day must be more than 0, and finite, not {runs_per_day:g}",
            hint="e.g. 288 for every 5 minutes",
        )
    if not (math.isfinite(worker_ms) and worker_ms >= 0 and 128 <= worker_mb <= 10240):
        raise InvalidInput(
            "--worker-ms must be 0 or more (and finite) and --worker-mb 128 to 10240, as Lambda"
            f" allows, not {worker_ms:g} and {worker_mb}",
            hint="a job's average time on its worker, e.g. --worker-ms 100, and the memory its"
            " function has, e.g. --worker-mb 128",
        )
    manifest = backend().registry.load_manifest(group)
    result = estimate(
        manifest, runs_per_day, WorkerProfile(seconds=worker_ms / 1000, memory_gb=worker_mb / 1024)
    )
    if as_json:
        print_json(
            {
                "group": result.group,
                "prices_as_of": PRICES_AS_OF,
                "runs_per_month": result.runs_per_month,
                "jobs_per_run": result.jobs_per_run,
                "publishers_per_run": result.publishers_per_run,
                "monthly_usd": {name: round(result.total(name), 4) for name in APPROACHES},
                "lines": {
                    name: [
                        {"what": line.what, "count": line.count, "usd": round(line.usd, 6)}
                        for line in lines
                    ]
                    for name, lines in result.approaches.items()
                },
            }
        )
        return
    out.print(
        f"{result.group}: {result.jobs_per_run:,} jobs a run, {result.runs_per_month:,.0f} runs "
        f"a month (us-east-1 list prices of {PRICES_AS_OF}, before free tiers)"
    )
    for name, title in APPROACHES.items():
        table = Table(title=title, title_justify="left", show_edge=False)
        table.add_column("a month of")
        table.add_column("count", justify="right")
        table.add_column("USD", justify="right")
        for line in result.approaches[name]:
            table.add_row(line.what, f"{line.count:,.0f}", f"{line.usd:,.2f}")
        table.add_row("total", "", f"{result.total(name):,.2f}", style="bold")
        out.print(table)
    out.print(
        "Worker lines are the same work in every approach; the rest is what running it costs."
    )
