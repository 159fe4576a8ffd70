"""A fault-injecting Lambda service, for the reliability suite and the benchmarks.

`FaultyLambda` is the local Lambda stand-in with, per invoke, seeded probabilities of:
- duplicate delivery (an invocation queued twice: async invocation is at least once);
- 429 throttling (the caller must back off and retry);
- a worker exception, before or after the worker's own work (Lambda retries it);
- a publisher crash after k of its invokes (the unit is redelivered, as by Lambda's retry);
- a duplicate destination record, or a dropped one (Lambda could not deliver it).
Duplicate S3 events are the caller's to make: send the same trigger twice.

Transient faults never exhaust a job's attempts: at most max_attempts - 1 are injected
per job or unit, so only jobs made to fail on purpose may end failed.

Each decision is a hash of the seed, the kind of fault, the invocation's content and
how many times that content was seen, so a run meets the same faults whatever order
threads happen to run in.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from bridge.local.lambda_service import FunctionConfig, InvocationContext, LocalLambda, Throttled
from bridge.local.runtime import PUBLISHER_FUNCTION


@dataclass(frozen=True)
class Faults:
    seed: int = 0
    duplicate: float = 0.0
    throttle: float = 0.0
    worker_error: float = 0.0
    publisher_crash: float = 0.0
    duplicate_record: float = 0.0
    drop_record: float = 0.0
    #: which function is the publisher (the local runtime's name by default)
    publisher: str = PUBLISHER_FUNCTION


class InjectedFault(RuntimeError):
    """An error this service made up."""


@dataclass
class FaultCounts:
    duplicates: int = 0
    throttles: int = 0
    worker_errors: int = 0
    publisher_crashes: int = 0
    duplicate_records: int = 0
    dropped_records: int = 0


class FaultyLambda(LocalLambda):
    def __init__(self, *, faults: Faults, **kwargs: Any) -> None:
        resolve = kwargs.pop("resolve", None)
        self.faults = faults
        self.counts = FaultCounts()
        self._lock = threading.Lock()
        self._injected: collections.Counter[str] = collections.Counter()
        self._seen: collections.Counter[str] = collections.Counter()
        self._publishing = threading.local()
        wrapped = None if resolve is None else (lambda name: self._wrap(resolve(name)))
        super().__init__(resolve=wrapped, **kwargs)

    def define(self, config: FunctionConfig) -> None:
        wrapped = self._wrap(config)
        assert wrapped is not None
        super().define(wrapped)

    def invoke_async(self, name: str, event: Any) -> str:
        budget = getattr(self._publishing, "budget", None)
        if budget is not None and name != self.faults.publisher:
            if budget == 0:
                self._publishing.budget = None
                with self._lock:
                    self.counts.publisher_crashes += 1
                raise InjectedFault("publisher crashed mid-part")
            self._publishing.budget = budget - 1
        key = f"{name}:{json.dumps(event, sort_keys=True, default=str)}"
        if self._roll("throttle", key, self.faults.throttle):
            with self._lock:
                self.counts.throttles += 1
            raise Throttled("Rate Exceeded.")
        request_id = super().invoke_async(name, event)
        if self._roll("duplicate", key, self.faults.duplicate):
            with self._lock:
                self.counts.duplicates += 1
            super().invoke_async(name, json.loads(json.dumps(event)))
        return request_id

    # -- internals ---------------------------------------------------------------------

    def _roll(self, kind: str, key: str, chance: float) -> bool:
        if chance <= 0:
            return False
        return self._uniform(kind, key) < chance

    def _uniform(self, kind: str, key: str) -> float:
        """A number in [0, 1) fixed by the seed, `kind`, `key` and its occurrence."""
        with self._lock:
            self._seen[f"{kind}:{key}"] += 1
            seen = self._seen[f"{kind}:{key}"]
        digest = hashlib.sha256(f"{self.faults.seed}:{kind}:{seen}:{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def _allowance(self, key: str, attempts: int) -> bool:
        """Whether one more fault may hit `key` and leave it a chance to succeed."""
        with self._lock:
            if self._injected[key] >= attempts - 1:
                return False
            self._injected[key] += 1
            return True

    def _wrap(self, config: FunctionConfig | None) -> FunctionConfig | None:
        if config is None or (config.destination is None and config.name != self.faults.publisher):
            return config  # neither a publisher nor a worker: a core function of the sandbox
        if config.name == self.faults.publisher:
            return dataclasses.replace(config, handler=self._publisher(config))
        return dataclasses.replace(
            config, handler=self._worker(config), destination=self._destination(config)
        )

    def _destination(self, config: FunctionConfig) -> Any:
        deliver = config.destination
        assert deliver is not None

        def send(record: dict[str, Any]) -> None:
            key = "record:" + json.dumps(record.get("requestPayload"), sort_keys=True, default=str)
            if self._roll("drop", key, self.faults.drop_record):
                with self._lock:
                    self.counts.dropped_records += 1
                return
            deliver(record)
            if self._roll("duplicate-record", key, self.faults.duplicate_record):
                with self._lock:
                    self.counts.duplicate_records += 1
                deliver(json.loads(json.dumps(record)))

        return send

    def _publisher(self, config: FunctionConfig) -> Any:
        handler = config.handler

        def run(event: Any, context: InvocationContext) -> Any:
            key = "publisher:" + json.dumps(event, sort_keys=True)
            crash = self._roll("crash", key, self.faults.publisher_crash) and self._allowance(
                key, config.max_attempts
            )
            if crash:
                self._publishing.budget = int(self._uniform("crash-after", key) * 50)
            try:
                response = handler(event, context)
            finally:
                budget = getattr(self._publishing, "budget", None)
                self._publishing.budget = None
            if crash and budget is not None:  # a short part: crash at its end instead
                with self._lock:
                    self.counts.publisher_crashes += 1
                raise InjectedFault("publisher crashed after its last invoke")
            return response

        return run

    def _worker(self, config: FunctionConfig) -> Any:
        handler = config.handler

        def run(event: Any, context: InvocationContext) -> Any:
            meta = event.get("cronbridge", {}) if isinstance(event, dict) else {}
            key = f"worker:{meta.get('run')}:{meta.get('list')}:{meta.get('job')}"
            fail = self._roll("error", key, self.faults.worker_error) and self._allowance(
                key, config.max_attempts
            )
            if fail:
                after = self._uniform("error-after", key) < 0.5
                with self._lock:
                    self.counts.worker_errors += 1
                if not after:
                    raise InjectedFault("worker failed before its work")
                handler(event, context)
                raise InjectedFault("worker failed after its work")
            return handler(event, context)

        return run
