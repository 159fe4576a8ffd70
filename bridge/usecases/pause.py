"""`groups pause` and `groups resume`, on both backends, for the CLI and the console.

The pause is written to the group's `current` pointer (bridge.domain.pause), where the
dispatcher reads it: from then on a trigger is recorded as a skipped run with reason
`paused` and opens nothing. Runs in flight finish, unless `cancel_running`: then each is
cancelled as `runs cancel` cancels it, after the pause is written so that no new run
opens behind the cancels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bridge.domain.pause import GroupHead, Pause
from bridge.domain.runs import Run, RunState
from bridge.exceptions import Conflict, InvalidInput
from bridge.ports import Clock, Ledger, Registry
from bridge.usecases.control import cancel_run

__all__ = ["PauseOutcome", "pause_group", "resume_group"]

_POINTER_TRIES = 5


@dataclass(frozen=True)
class PauseOutcome:
    group: str
    head: GroupHead
    cancelled: tuple[Run, ...] = ()


def pause_group(
    group: str,
    until: datetime | None = None,
    cancel_running: bool = False,
    *,
    registry: Registry,
    ledger: Ledger,
    clock: Clock,
) -> PauseOutcome:
    """Pause `group` (until `until`, else until resumed; `cancel_running`: cancel its
    running runs too); GroupNotFound, or InvalidInput for an `until` that is not in the
    future, before anything is written."""
    now = clock.now()
    if until is not None and until <= now:
        raise InvalidInput(
            "a pause must end in the future", hint="give --until a later time, or leave it out"
        )
    registry.load_manifest(group)  # an unknown group is said before anything is written
    head = _set_pause(registry, group, Pause(since=now, until=until))
    cancelled: list[Run] = []
    if cancel_running:
        for run in ledger.open_runs():
            if run.group != group or run.state is not RunState.RUNNING:
                continue
            try:
                cancelled.append(
                    cancel_run(run.run_id, ledger=ledger, clock=clock, reason="group paused")
                )
            except (InvalidInput, Conflict):
                continue  # it ended meanwhile: nothing left to cancel
    return PauseOutcome(group, head, tuple(cancelled))


def resume_group(group: str, *, registry: Registry) -> PauseOutcome:
    """Resume `group` (a group that is not paused stays as it is); GroupNotFound."""
    registry.load_manifest(group)
    return PauseOutcome(group, _set_pause(registry, group, None))


def _set_pause(registry: Registry, group: str, pause: Pause | None) -> GroupHead:
    # A registration that moved the pointer meanwhile is no reason to fail: write again.
    for _ in range(_POINTER_TRIES - 1):
        try:
            return registry.set_pause(group, pause)
        except Conflict:
            continue
    return registry.set_pause(group, pause)
