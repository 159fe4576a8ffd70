"""The small interfaces every outside system sits behind (DESIGN.md §2).

Two adapter families implement them: local (files, SQLite, threads) in
`bridge.local`, and AWS (S3, DynamoDB, Lambda). Use cases see only these.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bridge.domain.alerts import Alert
from bridge.domain.chunks import ResultChunk
from bridge.domain.events import PendingEvent, RunEvent
from bridge.domain.groups import GroupManifest, Job, VersionClaim
from bridge.domain.pause import GroupHead, Pause
from bridge.domain.plan import PublisherUnit
from bridge.domain.results import JobResult
from bridge.domain.runs import Progress, Run, RunState
from bridge.domain.tally import Tally

__all__ = [
    "Clock",
    "JobSink",
    "Ledger",
    "OpenOutcome",
    "Progress",
    "PublisherInvoker",
    "Registry",
    "SendSet",
    "SinkFactory",
    "SystemClock",
]


class Clock(Protocol):
    def now(self) -> datetime: ...
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class Registry(Protocol):
    """Versioned group definitions, laid out as the state bucket (DESIGN.md §3.2).

    A registration claims a version, writes its parts, finishes it (the manifest), and
    only then moves `current`: a version it did not finish (killed, or its lists were
    bad) is never read, and holds nothing up but its own number.
    """

    def current_version(self, group: str) -> int | None: ...
    def head(self, group: str) -> GroupHead | None:
        """The `current` pointer, in one read: the current version and the group's pause
        (bridge.domain.pause); None if the group is not registered."""
        ...

    def load_manifest(self, group: str, version: int | None = None) -> GroupManifest:
        """The manifest of `version` (default: current); GroupNotFound if there is none
        or it was never finished."""
        ...

    def claim_version(self, claim: VersionClaim) -> None:
        """Take a version number for one registration; Conflict if anything holds it
        already (a finished version, or a claim, live or left by a killed registration)."""
        ...

    def write_part(
        self, group: str, version: int, list_name: str, part: int, jobs: Sequence[Job]
    ) -> None: ...
    def read_part(self, group: str, version: int, list_name: str, part: int) -> Iterator[Job]: ...
    def finish_version(self, manifest: GroupManifest) -> None:
        """Replace the version's claim by its manifest, once every part is written."""
        ...

    def discard_version(self, group: str, version: int) -> None:
        """Delete a version that was claimed but never made current: its parts, then its
        claim, so its number stays taken until nothing of it is left."""
        ...

    def set_current(self, group: str, version: int, expected: int | None) -> None:
        """Point `current` at `version` if it still points at `expected`; else Conflict.
        The group's pause stays as it is: it belongs to the group, not to a version."""
        ...

    def set_pause(self, group: str, pause: Pause | None) -> GroupHead:
        """Pause the group (None: resume it), keeping its version; the new head.
        GroupNotFound if it is not registered; Conflict if the pointer moved meanwhile."""
        ...

    def list_groups(self) -> list[str]: ...
    def heads(self) -> dict[str, GroupHead]:
        """Every registered group's head, in one pass over the registry."""
        ...

    def delete_group(self, group: str) -> None: ...

    # -- alert rules (bridge.domain.alerts): alerts/<id>.json ---------------------------
    def put_alert(self, alert: Alert) -> None:
        """Store a new alert rule; Conflict if its id is taken (never overwrites)."""
        ...

    def list_alerts(self) -> list[Alert]:
        """Every alert rule, by id."""
        ...

    def delete_alert(self, alert_id: str) -> None:
        """Remove an alert rule; AlertNotFound if there is none by that id."""
        ...


OpenOutcome = str  # "opened" | "duplicate"; Conflict is raised when the group's head moved


@dataclass(frozen=True)
class SendSet:
    """Which jobs of a part a redrive or a resend sends: these ids, or (None) every one."""

    jobs: frozenset[str] | None = None

    def wants(self, job_id: str) -> bool:
        return self.jobs is None or job_id in self.jobs


class Ledger(Protocol):
    """Runs, part markers, send sets and per-job results (DESIGN.md §3.5).

    Results are stored in chunks (bridge.domain.chunks); the use cases decide what
    counts, the ledger stores atomically what they decide.
    """

    # -- runs --------------------------------------------------------------------------
    def get_run(self, run_id: str) -> Run | None:
        """The run; while it runs, with the approximate counters of its progress."""
        ...

    def latest_run(self, group: str) -> Run | None:
        """The group's last opened run (the one overlap and min_interval look at)."""
        ...

    def open_run(
        self,
        run: Run,
        *,
        previous: str | None,
        cancel: str | None,
        over_missed: bool = False,
        events: Sequence[RunEvent] = (),
    ) -> OpenOutcome:
        """Insert a running run and make it the group's latest, with `events`, all or
        nothing.

        "duplicate" if the run id exists (with `over_missed`: unless it is a `missed`
        run, which the new one replaces: a late trigger); Conflict if the group's latest
        run is no longer `previous`. `cancel` names a running run the new one replaces.
        """
        ...

    def record_skip(self, run: Run, *, over_missed: bool = False) -> OpenOutcome:
        """Insert a skipped run; "duplicate" if the run id exists (unless `over_missed`
        and it is a `missed` run, which the skipped one replaces)."""
        ...

    def record_missed(self, run: Run, events: Sequence[RunEvent] = ()) -> OpenOutcome:
        """Insert a `missed` run (a slot no trigger came for) with its events, all or
        nothing; "duplicate" if the run id exists. It never becomes the group's latest."""
        ...

    def slots_checked(self, group: str) -> datetime | None:
        """Up to which slot time the group's schedule was checked for missed slots."""
        ...

    def set_slots_checked(self, group: str, upto: datetime) -> None:
        """Move the mark forward (never back)."""
        ...

    def mark_launched(self, run_id: str, attempt: int) -> None: ...
    def list_runs(self, group: str | None, limit: int) -> list[Run]: ...
    def open_runs(self) -> list[Run]:
        """Every running run, for the sweep that ends those past their deadline."""
        ...

    def cancel_run(self, run_id: str, reason: str, at: datetime) -> bool:
        """Running -> cancelled; False if the run was not running."""
        ...

    def reopen_run(
        self,
        run_id: str,
        *,
        expected: RunState,
        attempt: int,
        deadline: datetime,
        progress: Progress,
    ) -> bool:
        """`expected` (failed, or succeeded with tolerated failures: a redrive; cancelled:
        a resume) -> running at `attempt`, with a new deadline and counters; False if the
        run changed meanwhile."""
        ...

    def set_deadline(self, run_id: str, attempt: int, deadline: datetime, resent: int) -> bool:
        """Move a running run's deadline after a resend; False if it changed meanwhile."""
        ...

    def finish_run(
        self,
        run_id: str,
        attempt: int,
        state: RunState,
        tally: Tally,
        at: datetime,
        events: Sequence[RunEvent] = (),
    ) -> bool:
        """Running (at `attempt`) -> `state` with exact counts, and `events` noted, all or
        nothing; False if someone else did."""
        ...

    # -- events (bridge.domain.events) -------------------------------------------------
    def note_event(self, event: RunEvent) -> bool:
        """Keep the event for delivery, once per key; True if it is new."""
        ...

    def pending_events(self, now: datetime, limit: int) -> list[PendingEvent]:
        """Events not yet delivered whose next try is due, oldest first."""
        ...

    def retry_event(self, pending: PendingEvent) -> None:
        """Store its tries, next try, targets left and last error."""
        ...

    def drop_event(self, event: RunEvent) -> None:
        """Delivered (or given up): out of the outbox; its key stays taken."""
        ...

    # -- parts and send sets -----------------------------------------------------------
    def part_dispatched(
        self, run_id: str, list_name: str, part: int, attempt: int, only: str
    ) -> bool: ...
    def mark_part_dispatched(
        self, run_id: str, list_name: str, part: int, attempt: int, only: str, jobs: int
    ) -> bool:
        """Remember that a part's jobs were all handed over; True the first time only."""
        ...

    def put_send_sets(
        self, run_id: str, attempt: int, only: str, sets: Mapping[tuple[str, int], SendSet]
    ) -> None:
        """Which jobs of each (list, part) the publishers of `only` send."""
        ...

    def take_wake(self, run_id: str, lane: str, wake: int, now: float, hold: float) -> bool:
        """Let wake `wake` of a paced lane run: True for its first delivery, False for a
        later wake's or a duplicate delivered within `hold` seconds of the first (which
        may still be running). After `hold`, a redelivery takes the wake over."""
        ...

    def send_set(
        self, run_id: str, attempt: int, only: str, list_name: str, part: int
    ) -> SendSet | None:
        """None: nothing of this part is to be sent."""
        ...

    # -- results -----------------------------------------------------------------------
    def append_results(self, run_id: str, chunks: Sequence[ResultChunk]) -> int:
        """Store the chunks (a chunk stored already is the same item again), then add
        their counts to the run's progress: the counters never fall behind what is
        stored. The number of results added."""
        ...

    def stored_results(self, run: Run) -> Iterator[JobResult]:
        """Every result stored for the run, duplicates included (bridge.domain.tally
        says which stands)."""
        ...

    def progress(self, run_id: str) -> Progress: ...
    def note_recount(self, run_id: str, checked: int, missing: int) -> None:
        """Remember an exact recount that found the run incomplete."""
        ...


class PublisherInvoker(Protocol):
    """Starts publisher units asynchronously (async Lambda invoke, or a local thread)."""

    def invoke_publishers(self, units: Sequence[PublisherUnit], delay: float = 0.0) -> None:
        """Start the units now, or (a paced lane's next wake) `delay` seconds from now,
        without holding anything idle meanwhile."""
        ...


class JobSink(Protocol):
    """Hands worker envelopes to a group's target, in order."""

    def send(
        self, envelopes: Sequence[dict[str, Any]], time_left: Callable[[], float] | None = None
    ) -> int:
        """How many were accepted: every one, unless handing one over could outlast
        `time_left` (seconds the caller may still spend), where a slow sink stops."""
        ...


SinkFactory = Callable[[GroupManifest], JobSink]
