"""A person's hand on a run, as `cronbridge runs redrive|cancel|resume` and the web
console's buttons both apply it: the run found as those commands name it (its id, a
unique prefix of it, or GROUP@latest), then redriven, cancelled or resumed.

The publishers are asked for only when an action needs them: locally that asks
`cronbridge serve` to answer, which a cancel does not need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bridge.domain.deadlines import Timing
from bridge.domain.runs import Run
from bridge.ports import Clock, Ledger, PublisherInvoker, Registry, SystemClock
from bridge.usecases.control import ResumeOutcome, cancel_run, resume_run
from bridge.usecases.jobs import find_run
from bridge.usecases.redrive import RedriveOutcome, redrive_run

__all__ = ["RunActions"]

Outcome = TypeVar("Outcome", RedriveOutcome, ResumeOutcome)


@dataclass(frozen=True)
class RunActions:
    registry: Registry
    ledger: Ledger
    publishers: Callable[[], PublisherInvoker]
    timing: Timing
    clock: Clock = field(default_factory=SystemClock)

    def find(self, text: str) -> Run:
        return find_run(self.ledger, text)

    def redrive(self, text: str) -> RedriveOutcome:
        """Send a failed run's failed and lost jobs again, or those a succeeded run
        tolerated (bridge.usecases.redrive)."""
        return self._with_publishers(redrive_run, text)

    def cancel(self, text: str, reason: str = "") -> Run:
        """The cancelled run (bridge.usecases.control.cancel_run)."""
        return cancel_run(
            self.find(text).run_id, ledger=self.ledger, clock=self.clock, reason=reason
        )

    def resume(self, text: str) -> ResumeOutcome:
        """Send a running or cancelled run's jobs without a result (resume_run)."""
        return self._with_publishers(resume_run, text)

    def _with_publishers(self, use_case: Callable[..., Outcome], text: str) -> Outcome:
        run_id = self.find(text).run_id  # an unknown run is said before serve is asked for
        return use_case(
            run_id,
            registry=self.registry,
            ledger=self.ledger,
            publishers=self.publishers(),
            clock=self.clock,
            timing=self.timing,
        )
