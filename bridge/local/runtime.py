"""The whole pipeline on one machine: file registry, SQLite ledger, local Lambda service.

Every use case here is the one the AWS handlers run; only the adapters differ.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from bridge.domain.controls import Controls
from bridge.domain.deadlines import LAMBDA_EVENT_AGE, Timing
from bridge.domain.groups import GroupManifest
from bridge.domain.plan import PublisherUnit
from bridge.domain.runs import Run
from bridge.domain.schedules import Schedule
from bridge.domain.triggers import TriggerEvent
from bridge.exceptions import CronbridgeError
from bridge.local.home import Home
from bridge.local.lambda_service import FunctionConfig, InvocationContext, LocalLambda, Throttled
from bridge.local.ledger import SqliteLedger
from bridge.local.queue import BatchPoller, LocalQueue, ResultDestination
from bridge.local.registry import FileRegistry
from bridge.local.targets import check_local_target, local_handler
from bridge.ports import Clock, JobSink, SystemClock
from bridge.usecases.alerts import DeliveryReport, Senders, deliver_alerts
from bridge.usecases.control import ResumeOutcome, cancel_run, resume_run
from bridge.usecases.dispatch import TriggerOutcome, handle_trigger
from bridge.usecases.record import record_destination_batch
from bridge.usecases.redrive import RedriveOutcome, redrive_run
from bridge.usecases.register import ListSource, register_group
from bridge.usecases.resume import ResumedRun, resume_runs
from bridge.usecases.slots import SlotCheck, check_slots
from bridge.usecases.sweep import SweepAction, sweep_runs
from publishers.delivery import Backoff
from publishers.publish import run_publisher_unit

__all__ = [
    "LOCAL_CONSOLE_URL",
    "PUBLISHER_FUNCTION",
    "LocalRuntime",
    "local_timing",
    "worker_function",
]

log = logging.getLogger("cronbridge.local")

PUBLISHER_FUNCTION = "cronbridge-publisher"
#: where `cronbridge ui` serves by default: what alerts link to unless serve hosts a console
LOCAL_CONSOLE_URL = "http://127.0.0.1:8790"
#: results wait at most this long in the local results queue before a recorder batch
RESULTS_WINDOW = 0.25
RESULTS_BATCH = 1000
_WORKER = re.compile(r"cronbridge-worker-(?P<group>[a-z0-9-]+)-v(?P<version>\d+)")


def local_timing(retry_delay: float = 0.1, event_age: float = LAMBDA_EVENT_AGE) -> Timing:
    """What the local runtime adds to a group's controls to make a run's deadline."""
    return Timing(
        event_age=event_age,
        recording_delay=RESULTS_WINDOW + 30.0,  # the window, and a failed batch's return
        retry_waits=(retry_delay, 2 * retry_delay),
    )


def worker_function(manifest: GroupManifest) -> str:
    """One local worker function per group version: its target and controls are pinned."""
    return f"cronbridge-worker-{manifest.group}-v{manifest.version}"


def invoke_with_backoff(lambdas: LocalLambda, name: str, event: Any, backoff: Backoff) -> None:
    """Invoke asynchronously, backing off while the service answers 429, as on Lambda."""
    for attempt in itertools.count():
        try:
            lambdas.invoke_async(name, event)
            return
        except Throttled:
            if attempt + 1 >= backoff.tries:
                raise
            backoff.pause(attempt)


class _LocalSink:
    def __init__(self, lambdas: LocalLambda, function: str, backoff: Backoff) -> None:
        self._lambdas = lambdas
        self._function = function
        self._backoff = backoff

    def send(
        self, envelopes: Sequence[dict[str, Any]], time_left: Callable[[], float] | None = None
    ) -> int:
        for envelope in envelopes:
            invoke_with_backoff(self._lambdas, self._function, envelope, self._backoff)
        return len(envelopes)


class LocalRuntime:
    def __init__(
        self,
        home: Home,
        *,
        workers: int = 16,
        retry_delay: float = 0.1,
        clock: Clock | None = None,
        service: Callable[..., LocalLambda] = LocalLambda,
        event_age: float = LAMBDA_EVENT_AGE,
    ) -> None:
        """`service` makes the Lambda stand-in (a fault-injecting one, in tests)."""
        self.home = home
        self.clock = clock or SystemClock()
        self.registry = FileRegistry(home.state_dir)
        self.ledger = SqliteLedger(home.ledger_path)
        self._http = httpx.Client()
        self._event_age = event_age
        self.timing = local_timing(retry_delay, event_age)
        # Workers' destinations: the results queue, drained in batches into the recorder.
        self.results = LocalQueue(visibility=30.0)
        self.destination = ResultDestination(self.results)
        self.poller = BatchPoller(
            self.results, self._record_batch, batch_size=RESULTS_BATCH, window=RESULTS_WINDOW
        )
        self.lambdas = service(
            clock=self.clock, workers=workers, retry_delay=retry_delay, resolve=self._resolve_worker
        )
        self._backoff = Backoff(tries=10, base=0.01, cap=0.5)
        self.lambdas.define(FunctionConfig(PUBLISHER_FUNCTION, self._run_publisher))
        self.poller.start()
        self._sweeping = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._stopped = False
        #: where alerts link to: `cronbridge ui`'s address, or the console serve hosts
        self.console_url = LOCAL_CONSOLE_URL
        self.senders = Senders()  # webhooks over HTTP; SNS with this machine's credentials

    def stop(self) -> list[Run]:
        """Stop working: no more sweeps, no more invocations (a handler already running is
        left to end by itself; Python threads cannot be stopped), and the results already
        queued recorded if that is quick. The runs still running, which the next start
        resumes. The ledger stays open until `close()`."""
        self._stopped = True
        self._sweeping.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=10)
        self.lambdas.close()
        # Results already in the queue are recorded before stopping, if that is quick;
        # any left are sent again by the next start's resume.
        self.results.wait_empty(5.0)
        self.poller.stop()
        return self.ledger.open_runs()

    def close(self) -> None:
        if not self._stopped:
            self.stop()
        self._http.close()
        self.ledger.close()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no invocation is queued or running and every result is recorded."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            if not self.lambdas.wait_idle(left) or not self.results.wait_empty(left):
                return False
            if self.lambdas.wait_idle(0) and self.results.empty() and not self.poller.busy:
                return True

    def start_sweeper(self, interval: float = 5.0) -> None:
        """Every `interval` seconds, until closed, as the sweeper Lambda does every
        minute: act on the runs past their deadline, record the slots no trigger came
        for, and deliver the alerts due."""

        def loop() -> None:
            while not self._sweeping.wait(interval):
                for step in (self.sweep, self.check_slots, self.deliver_alerts):
                    try:
                        step()
                    except Exception:  # the next sweep tries again, as on AWS
                        log.exception("sweep failed", extra={"step": step.__name__})

        self._sweeper = threading.Thread(target=loop, name="sweeper", daemon=True)
        self._sweeper.start()

    # -- use cases ---------------------------------------------------------------------

    def register(
        self,
        group: str,
        target: str,
        sources: Sequence[ListSource],
        controls: Controls,
        *,
        schedule: Schedule | None = None,
    ) -> GroupManifest:
        return register_group(
            group,
            target,
            sources,
            controls,
            registry=self.registry,
            clock=self.clock,
            check_target=check_local_target,
            schedule=schedule,
        )

    def handle_trigger(self, event: TriggerEvent) -> TriggerOutcome:
        return handle_trigger(
            event,
            registry=self.registry,
            ledger=self.ledger,
            publishers=self,
            clock=self.clock,
            timing=self.timing,
        )

    def resume(self) -> list[ResumedRun]:
        """Finish what a stopped runtime left running (see bridge.usecases.resume)."""
        return resume_runs(
            registry=self.registry,
            ledger=self.ledger,
            publishers=self,
            clock=self.clock,
            timing=self.timing,
        )

    def resume_run(self, run_id: str) -> ResumeOutcome:
        return resume_run(
            run_id,
            registry=self.registry,
            ledger=self.ledger,
            publishers=self,
            clock=self.clock,
            timing=self.timing,
        )

    def cancel(self, run_id: str, reason: str = "") -> Run:
        return cancel_run(run_id, ledger=self.ledger, clock=self.clock, reason=reason)

    def redrive(self, run_id: str) -> RedriveOutcome:
        return redrive_run(
            run_id,
            registry=self.registry,
            ledger=self.ledger,
            publishers=self,
            clock=self.clock,
            timing=self.timing,
        )

    def sweep(self) -> list[SweepAction]:
        """Act on the runs past their deadline (bridge.usecases.sweep)."""
        return sweep_runs(
            registry=self.registry,
            ledger=self.ledger,
            publishers=self,
            clock=self.clock,
            timing=self.timing,
        )

    def check_slots(self) -> list[SlotCheck]:
        """Record the slots of scheduled groups no trigger came for (bridge.usecases.slots)."""
        return check_slots(registry=self.registry, ledger=self.ledger, clock=self.clock)

    def deliver_alerts(self) -> DeliveryReport:
        """Send the run events that alerts want (bridge.usecases.alerts)."""
        return deliver_alerts(
            registry=self.registry,
            ledger=self.ledger,
            clock=self.clock,
            console_url=self.console_url,
            senders=self.senders,
        )

    # -- ports the use cases call back -------------------------------------------------

    def invoke_publishers(self, units: Sequence[PublisherUnit], delay: float = 0.0) -> None:
        for unit in units:
            if delay > 0:  # a paced lane's next wake: held by the service, nobody sleeps
                self.lambdas.invoke_async_later(PUBLISHER_FUNCTION, unit.to_dict(), delay)
            else:
                invoke_with_backoff(self.lambdas, PUBLISHER_FUNCTION, unit.to_dict(), self._backoff)

    def sink_for(self, manifest: GroupManifest) -> JobSink:
        return _LocalSink(self.lambdas, worker_function(manifest), self._backoff)

    # -- local functions ---------------------------------------------------------------

    def _run_publisher(self, event: Any, context: InvocationContext) -> dict[str, Any]:
        unit = PublisherUnit.from_dict(event)
        outcome = run_publisher_unit(
            unit,
            registry=self.registry,
            ledger=self.ledger,
            publishers=self,
            sinks=self.sink_for,
            clock=self.clock,
        )
        log.info(
            "publisher unit done",
            extra={
                "run": unit.run_id,
                "list": unit.list_name,
                "parts": [unit.first_part, unit.end_part],
                "action": outcome.action,
                "children": outcome.children,
                "jobs": outcome.jobs,
                "reason": outcome.reason,
            },
        )
        return {"action": outcome.action, "jobs": outcome.jobs}

    def _record_batch(self, event: dict[str, Any]) -> dict[str, Any]:
        outcome = record_destination_batch(event, ledger=self.ledger)
        report = outcome.report
        log.debug(
            "results recorded",
            extra={
                "records": len(event.get("Records", [])),
                "counted": report.counted,
                "duplicates": report.duplicates,
                "late": report.late,
                "rejected": len(outcome.rejected) + report.unknown,
                "finished": report.finished,
            },
        )
        return outcome.response()

    def _resolve_worker(self, name: str) -> FunctionConfig | None:
        match = _WORKER.fullmatch(name)
        if match is None:
            return None
        manifest = self.registry.load_manifest(match["group"], int(match["version"]))
        try:
            handler = local_handler(manifest.target, self._http)
        except CronbridgeError as exc:
            # The target broke after registration (a module deleted, say): every job
            # fails with the reason instead of vanishing.
            handler = _failing_handler(exc)
        controls = manifest.controls
        return FunctionConfig(
            name=name,
            handler=handler,
            max_attempts=controls.max_attempts,
            max_concurrency=controls.max_concurrency,
            timeout=controls.timeout,
            destination=self.destination,
            max_event_age=self._event_age,
        )


def _failing_handler(error: CronbridgeError) -> Any:
    def handler(event: Any, context: Any) -> Any:
        raise RuntimeError(error.message)

    return handler
