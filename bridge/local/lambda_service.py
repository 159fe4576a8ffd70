"""The local stand-in for Lambda's asynchronous invocation.

Like the real service it queues every invoke, runs at most `max_concurrency` at once
per function, retries a failed invocation with backoff until `max_attempts`, treats a
run longer than `timeout` as a failure, drops an event that waited longer than its
`max_event_age` (with an `EventAgeExceeded` failure record), and hands a destination
record (success or failure) to the function's destination. Unlike it, a timed-out
handler is not cut short: Python threads cannot be killed, so the attempt is failed
after it ends; a handler that honours `context.get_remaining_time_in_millis()` stops
in time.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bridge.domain.deadlines import LAMBDA_EVENT_AGE
from bridge.domain.results import destination_record
from bridge.exceptions import NotFound, Unavailable
from bridge.ports import Clock

__all__ = ["FunctionConfig", "InvocationContext", "LocalLambda", "Throttled"]

log = logging.getLogger("cronbridge.local.lambda")

Handler = Callable[[Any, "InvocationContext"], Any]
Destination = Callable[[dict[str, Any]], None]


class Throttled(Unavailable):
    """Lambda's 429 TooManyRequestsException: the invoke was refused; try again later.
    This service never throttles by itself; a fault-injecting subclass does, and callers
    back off and retry as they must on Lambda."""

    code = "TooManyRequestsException"


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    handler: Handler
    max_attempts: int = 3
    max_concurrency: int | None = None
    timeout: float = 900.0
    #: where success and failure records go, like an async invoke config's destinations
    destination: Destination | None = None
    #: an event queued longer than this is dropped, like Lambda's maximum event age
    max_event_age: float = LAMBDA_EVENT_AGE


@dataclass
class InvocationContext:
    """The parts of Lambda's context object that handlers use."""

    function_name: str
    aws_request_id: str
    deadline: float  # time.monotonic() at which the attempt times out
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = ""

    def __post_init__(self) -> None:
        self.invoked_function_arn = (
            f"arn:aws:lambda:local:000000000000:function:{self.function_name}"
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass
class _Invocation:
    function: str
    event: Any
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    tries: int = 0
    queued_at: float = field(default_factory=time.monotonic)


@dataclass
class Stats:
    invoked: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    expired: int = 0
    #: per function: attempts run, and the seconds they took (for the benchmarks)
    runs: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))


class LocalLambda:
    """A pool of `workers` threads that runs asynchronous invocations.

    `serial` runs one handler at a time across the pool and `invoke_sync` (the sandbox
    needs it: moto's DynamoDB is not atomic under concurrent requests).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        workers: int = 16,
        retry_delay: float = 0.1,
        resolve: Callable[[str], FunctionConfig | None] | None = None,
        serial: bool = False,
    ) -> None:
        self._clock = clock
        self._serial: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if serial else contextlib.nullcontext()
        )
        self._retry_delay = retry_delay
        self._resolve = resolve
        self._functions: dict[str, FunctionConfig] = {}
        self._lock = threading.Condition()
        # Ready invocations per function, served round-robin: on Lambda every function
        # scales on its own, so a flood of worker invokes must not starve the recorder.
        self._ready: dict[str, collections.deque[_Invocation]] = {}
        self._ready_count = 0
        self._waiting: dict[str, collections.deque[_Invocation]] = collections.defaultdict(
            collections.deque
        )
        self._running: dict[str, int] = collections.defaultdict(int)
        self._delayed: list[tuple[float, int, _Invocation]] = []
        self._order = itertools.count()
        self._outstanding = 0
        self._closed = False
        self.stats = Stats()
        self._threads = [
            threading.Thread(target=self._work, name=f"lambda-{i}", daemon=True)
            for i in range(workers)
        ]
        self._threads.append(
            threading.Thread(target=self._wake_delayed, name="lambda-retries", daemon=True)
        )
        for thread in self._threads:
            thread.start()

    def define(self, config: FunctionConfig) -> None:
        with self._lock:
            self._functions[config.name] = config

    def config(self, name: str) -> FunctionConfig:
        """A function's configuration; NotFound if there is no such function."""
        return self._function(name)

    def defines(self, name: str) -> bool:
        try:
            self._function(name)
        except NotFound:
            return False
        return True

    def invoke_async(self, name: str, event: Any) -> str:
        """Queue an invocation; its request id. NotFound if no such function."""
        with self._accepted(name, event) as invocation:
            self._admit(invocation)
        return invocation.request_id

    def invoke_async_later(self, name: str, event: Any, delay: float) -> str:
        """Queue an invocation that becomes runnable `delay` seconds from now, as an SQS
        message with a delay would; its request id."""
        with self._accepted(name, event) as invocation:
            due = self._clock.monotonic() + delay
            heapq.heappush(self._delayed, (due, next(self._order), invocation))
            self._lock.notify_all()
        return invocation.request_id

    @contextlib.contextmanager
    def _accepted(self, name: str, event: Any) -> Iterator[_Invocation]:
        """A new invocation of `name`, counted, with the lock held while inside.
        NotFound if there is no such function or the service is shut down."""
        self._function(name)
        invocation = _Invocation(function=name, event=event)
        with self._lock:
            if self._closed:
                raise NotFound("the local Lambda service is shut down")
            self._outstanding += 1
            self.stats.invoked += 1
            yield invocation

    def invoke_sync(self, name: str, event: Any) -> tuple[bool, Any]:
        """Run one attempt now, in this thread (`RequestResponse`): whether it succeeded,
        and its response or error payload. No retries, no destination, as on Lambda."""
        config = self._function(name)
        context = InvocationContext(
            function_name=config.name,
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + config.timeout,
        )
        started = time.monotonic()
        try:
            with self._serial:
                return True, config.handler(event, context)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the runtime boundary, as in _execute
            return False, {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        finally:
            self._count(config.name, time.monotonic() - started)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued, running or waiting to retry; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._outstanding == 0, timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    # -- internals ---------------------------------------------------------------------

    def _function(self, name: str) -> FunctionConfig:
        with self._lock:
            config = self._functions.get(name)
        if config is None and self._resolve is not None:
            config = self._resolve(name)
            if config is not None:
                with self._lock:
                    config = self._functions.setdefault(name, config)
        if config is None:
            raise NotFound(f"Function not found: {name}")
        return config

    def _admit(self, invocation: _Invocation) -> None:
        """Run now if the function has room, else wait in its queue. Holds the lock."""
        limit = self._functions[invocation.function].max_concurrency
        if limit is not None and self._running[invocation.function] >= limit:
            self._waiting[invocation.function].append(invocation)
            return
        self._running[invocation.function] += 1
        self._ready.setdefault(invocation.function, collections.deque()).append(invocation)
        self._ready_count += 1
        self._lock.notify_all()

    def _work(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._ready_count > 0 or self._closed)
                if self._closed:
                    return
                invocation = self._take_ready()
            retry = self._execute(invocation)
            with self._lock:
                self._running[invocation.function] -= 1
                waiting = self._waiting[invocation.function]
                if waiting:
                    self._admit(waiting.popleft())
                if retry:
                    delay = self._retry_delay * 2 ** (invocation.tries - 1)
                    due = self._clock.monotonic() + delay
                    heapq.heappush(self._delayed, (due, next(self._order), invocation))
                    self.stats.retried += 1
                else:
                    self._outstanding -= 1
                self._lock.notify_all()

    def _take_ready(self) -> _Invocation:
        """The next invocation of the function whose turn it is. Holds the lock."""
        function = next(iter(self._ready))
        queue = self._ready.pop(function)
        invocation = queue.popleft()
        if queue:
            self._ready[function] = queue  # back of the line: the next function goes first
        self._ready_count -= 1
        return invocation

    def _wake_delayed(self) -> None:
        with self._lock:
            while not self._closed:
                if not self._delayed:
                    self._lock.wait()
                    continue
                due = self._delayed[0][0]
                now = self._clock.monotonic()
                if due > now:
                    self._lock.wait(timeout=due - now)
                    continue
                _, _, invocation = heapq.heappop(self._delayed)
                self._admit(invocation)

    def _execute(self, invocation: _Invocation) -> bool:
        """Run one attempt; True if it failed and should be tried again."""
        config = self._functions[invocation.function]
        context = InvocationContext(
            function_name=config.name,
            aws_request_id=invocation.request_id,
            deadline=time.monotonic() + config.timeout,
        )
        if time.monotonic() - invocation.queued_at > config.max_event_age:
            self._expire(config, invocation, context)
            return False
        invocation.tries += 1
        started = time.monotonic()
        try:
            with self._serial:
                response = config.handler(invocation.event, context)
            ok = True
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the runtime boundary: every error, even sys.exit(), is an attempt's result
            response = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            ok = False
        elapsed = time.monotonic() - started
        self._count(config.name, elapsed)
        if ok and elapsed > config.timeout:
            response = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Task timed out after {config.timeout:.2f} seconds",
            }
            ok = False
        if not ok:
            log.info(
                "attempt failed",
                extra={
                    "function": config.name,
                    "try": invocation.tries,
                    "error": response["errorType"],
                },
            )
            if invocation.tries < config.max_attempts:
                return True
        with self._lock:
            if ok:
                self.stats.succeeded += 1
            else:
                self.stats.failed += 1
        if config.destination is not None:
            record = destination_record(
                invocation.event,
                succeeded=ok,
                tries=invocation.tries,
                response=response,
                function_arn=context.invoked_function_arn,
                request_id=invocation.request_id,
                timestamp=self._clock.now(),
                duration_ms=elapsed * 1000,
            )
            self._deliver(config, record)
        return False

    def _count(self, function: str, seconds: float) -> None:
        with self._lock:
            self.stats.runs[function] += 1
            self.stats.seconds[function] += seconds

    def _expire(
        self, config: FunctionConfig, invocation: _Invocation, context: InvocationContext
    ) -> None:
        with self._lock:
            self.stats.expired += 1
        log.info("event expired", extra={"function": config.name, "tries": invocation.tries})
        if config.destination is None:
            return
        record = destination_record(
            invocation.event,
            succeeded=False,
            tries=max(1, invocation.tries),
            response=None,
            function_arn=context.invoked_function_arn,
            request_id=invocation.request_id,
            timestamp=self._clock.now(),
            condition="EventAgeExceeded",
        )
        self._deliver(config, record)

    def _deliver(self, config: FunctionConfig, record: dict[str, Any]) -> None:
        assert config.destination is not None
        try:
            config.destination(record)
        except Exception:  # like Lambda: a record it cannot deliver is dropped
            log.exception("destination delivery failed", extra={"function": config.name})
