"""`cronbridge backfill GROUP --from T --to T`: fire the slots of a group's schedule that
have no run, through the same PUT `cronbridge trigger --scheduled-time` sends
(bridge/usecases/backfill.py says how)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from bridge.cli.app import app, backend, err_console, out, print_json
from bridge.cli.progress import watch_run
from bridge.domain.triggers import BACKFILL_SOURCE, format_time, parse_time
from bridge.ports import SystemClock
from bridge.usecases.backfill import (
    BackfillPlan,
    BackfillReport,
    FiredSlot,
    SlotAnswer,
    plan_backfill,
    run_backfill,
)

__all__ = ["backfill"]


@app.command()
def backfill(
    group: Annotated[str, typer.Argument(metavar="GROUP", help="A group with a schedule.")],
    start: Annotated[
        str,
        typer.Option(
            "--from", metavar="TIME", help="The window's oldest slot, RFC 3339 (inclusive)."
        ),
    ],
    end: Annotated[
        str,
        typer.Option(
            "--to", metavar="TIME", help="The window's newest slot, RFC 3339 (inclusive)."
        ),
    ],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="List the slots it would fire, and those that ran; fire none."
        ),
    ] = False,
    limit: Annotated[
        int | None, typer.Option(metavar="N", help="Fire only the oldest N slots without a run.")
    ] = None,
    signed: Annotated[
        bool, typer.Option("--signed", help="AWS: sign the PUTs with your credentials (SigV4).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Fire GROUP once for each slot of its schedule between --from and --to that has no
    run, oldest first; slots that ran are left alone (and would answer `duplicate`)."""
    window_start = parse_time(start, "--from")
    window_end = parse_time(end, "--to")
    where = backend()
    plan = plan_backfill(
        group,
        window_start,
        window_end,
        registry=where.registry,
        ledger=where.ledger,
        clock=SystemClock(),
        limit=limit,
    )
    if dry_run:
        _show_plan(plan, as_json)
        return

    def send(group: str, slot: datetime) -> SlotAnswer:
        reply = where.send(group, slot, "", signed=signed, source=BACKFILL_SOURCE)
        return SlotAnswer(reply.decision, reply.run_id, reply.reason)

    def wait_for_end(run_id: str) -> None:
        if not as_json:
            out.print(f"waiting for run {run_id} to end (overlap {plan.overlap})", markup=False)
        watch_run(
            where.ledger,
            run_id,
            out,
            records=lambda record: None,
            runtime_down=where.runtime_down,
            warn=err_console,
        )

    def say(fired: FiredSlot) -> None:
        if not as_json:
            answer = fired.answer
            tail = f" ({answer.reason})" if answer.reason else ""
            out.print(
                f"{format_time(fired.slot)}  run {answer.run_id}: {answer.decision}{tail}",
                markup=False,
            )

    report = run_backfill(
        plan, send=send, wait_for_end=wait_for_end, ledger=where.ledger, on_fired=say
    )
    if as_json:
        print_json(_report_json(report))
    else:
        out.print(_summary(report), markup=False)


def _show_plan(plan: BackfillPlan, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                **_window_json(plan),
                "dry_run": True,
                "would_fire": [
                    {"slot": format_time(s.slot), "run": s.run_id} for s in plan.to_fire
                ],
                "already_ran": _ran_json(plan),
            }
        )
        return
    for planned in plan.slots:
        what = "would fire" if planned.ran is None else f"ran ({planned.ran})"
        out.print(f"{format_time(planned.slot)}  run {planned.run_id}: {what}", markup=False)
    out.print(
        f"dry run: {len(plan.to_fire):,} slot(s) of {plan.group} would be fired, "
        f"{len(plan.already_ran):,} already ran; nothing was changed",
        markup=False,
    )


def _summary(report: BackfillReport) -> str:
    counts = ", ".join(f"{n:,} {decision}" for decision, n in report.counts().items())
    return (
        f"backfill of {report.plan.group}: {len(report.fired):,} slot(s) fired"
        f"{f' ({counts})' if counts else ''}, {len(report.plan.already_ran):,} already ran"
    )


def _report_json(report: BackfillReport) -> dict[str, Any]:
    return {
        **_window_json(report.plan),
        "dry_run": False,
        "fired": [
            {
                "slot": format_time(fired.slot),
                "run": fired.answer.run_id,
                "decision": fired.answer.decision,
                "reason": fired.answer.reason,
            }
            for fired in report.fired
        ],
        "already_ran": _ran_json(report.plan),
        "counts": report.counts(),
    }


def _window_json(plan: BackfillPlan) -> dict[str, Any]:
    return {
        "group": plan.group,
        "from": format_time(plan.start),
        "to": format_time(plan.end),
        "overlap": str(plan.overlap),
    }


def _ran_json(plan: BackfillPlan) -> list[dict[str, Any]]:
    return [
        {"slot": format_time(s.slot), "run": s.run_id, "state": str(s.ran)}
        for s in plan.already_ran
    ]
