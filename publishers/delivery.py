"""Handing work to AWS: async Lambda invokes, SQS batches, HTTP POSTs.

Standard library and boto3 only: the publisher and dispatcher Lambdas import this.

Fan-out without backoff dies on throttling (DESIGN.md §10), so every send retries
`TooManyRequestsException`, 5xx answers and connection errors with capped,
jittered exponential backoff, on top of botocore's adaptive retry mode.
"""

from __future__ import annotations

import json
import math
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bridge.domain.plan import PublisherUnit
from bridge.domain.results import ENVELOPE_KEY, bound_output
from bridge.exceptions import Unavailable

__all__ = [
    "ASYNC_PAYLOAD_LIMIT",
    "INLINE_ENVELOPE_LIMIT",
    "AsyncInvoker",
    "HttpAnswer",
    "HttpSink",
    "LambdaPublisherInvoker",
    "LambdaSink",
    "PayloadStore",
    "SqsSink",
    "client_config",
]

#: the longest an SQS message can be held back (DelaySeconds)
MAX_DELAY_SECONDS = 900
#: Lambda's limit for an asynchronous invocation's payload, and SQS's for a message
#: (256 KiB, the lower figure the documentation has given).
ASYNC_PAYLOAD_LIMIT = 256 * 1024
#: An envelope larger than this travels by reference: a worker's destination record holds
#: the envelope and the worker's answer (the helper caps it at RESPONSE_LIMIT), and one
#: larger than a queue message is dropped by Lambda.
INLINE_ENVELOPE_LIMIT = 224 * 1024
_RETRYABLE = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "ServiceException",
        "EC2ThrottledException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "InternalError",
    }
)


def client_config(pool: int = 32) -> Config:
    """Adaptive retries (client-side rate limiting) and a pool as large as our threads."""
    return Config(
        retries={"mode": "adaptive", "max_attempts": 10},
        max_pool_connections=pool,
        connect_timeout=5,
        read_timeout=30,
    )


class Backoff:
    """Capped exponential backoff with full jitter."""

    def __init__(
        self,
        *,
        tries: int = 8,
        base: float = 0.1,
        cap: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.tries = tries
        self._base = base
        self._cap = cap
        self._sleep = sleep

    def pause(self, attempt: int) -> None:
        self._sleep(random.uniform(0, min(self._cap, self._base * 2**attempt)))  # noqa: S311 - jitter, not crypto


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return error.get("Code") in _RETRYABLE or status == 429 or status >= 500
    return isinstance(exc, BotoCoreError)


class AsyncInvoker:
    """Async (`InvocationType=Event`) invokes from a thread pool sharing one client.

    One botocore client is thread-safe; the pool is as large as its connection pool,
    so no thread waits for a connection.
    """

    def __init__(self, client: Any, *, threads: int = 32, backoff: Backoff | None = None) -> None:
        self._client = client
        self._backoff = backoff or Backoff()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="invoke")

    def invoke_all(self, function: str, payloads: Sequence[bytes]) -> None:
        """Return once Lambda accepted every payload; raise if one could not be handed over."""
        if len(payloads) == 1:
            self._invoke(function, payloads[0])
            return
        for future in [self._pool.submit(self._invoke, function, p) for p in payloads]:
            future.result()

    def _invoke(self, function: str, payload: bytes) -> None:
        for attempt in range(self._backoff.tries):
            try:
                self._client.invoke(FunctionName=function, InvocationType="Event", Payload=payload)
                return
            except (ClientError, BotoCoreError) as exc:
                if not _retryable(exc) or attempt == self._backoff.tries - 1:
                    raise Unavailable(f"could not invoke {function}: {exc}") from exc
                self._backoff.pause(attempt)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        close = getattr(self._client, "close_connections", None)
        if callable(close):
            close()


class LambdaPublisherInvoker:
    """Starts publisher units as async invokes of the publisher function; a unit due later
    (a paced lane's next wake) goes to the pacing queue with that delay, and the queue's
    event source mapping invokes the publisher with it then. Nothing sleeps meanwhile.

    Without a pacing queue (a deployment from before it), a delayed unit is invoked
    after sleeping here, as paced publishers used to.
    """

    def __init__(
        self,
        invoker: AsyncInvoker,
        function: str,
        *,
        pacing: Callable[[], Any] | None = None,
        pacing_queue: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._invoker = invoker
        self._function = function
        self._pacing = pacing  # makes the SQS client when first needed
        self._pacing_queue = pacing_queue
        self._sleep = sleep

    def invoke_publishers(self, units: Sequence[PublisherUnit], delay: float = 0.0) -> None:
        if not units:
            return
        if delay <= 0:
            self._invoker.invoke_all(self._function, [_encode(u.to_dict()) for u in units])
            return
        if self._pacing is None or not self._pacing_queue:
            self._sleep(delay)
            self._invoker.invoke_all(self._function, [_encode(u.to_dict()) for u in units])
            return
        sqs = self._pacing()
        for unit in units:
            sqs.send_message(
                QueueUrl=self._pacing_queue,
                MessageBody=_encode(unit.to_dict()).decode(),
                DelaySeconds=min(MAX_DELAY_SECONDS, max(0, math.ceil(delay))),
            )


class PayloadStore:
    """Keeps payloads too large to send inline in the state bucket (DESIGN.md §3.4)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self._bucket = bucket

    def shrink(self, envelope: dict[str, Any], limit: int) -> bytes:
        body = _encode(envelope)
        if len(body) <= limit:
            return body
        meta = envelope[ENVELOPE_KEY]
        key = f"payloads/{meta['run']}/{meta['list']}/{meta['job']}.json"
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=_encode(envelope["payload"]))
        small = {
            ENVELOPE_KEY: meta,
            "payload": None,
            "payload_ref": {"bucket": self._bucket, "key": key},
        }
        return _encode(small)


class LambdaSink:
    """`lambda:` targets: one async invoke of the worker function per job."""

    def __init__(
        self,
        invoker: AsyncInvoker,
        function: str,
        payloads: PayloadStore,
        *,
        limit: int = INLINE_ENVELOPE_LIMIT,
    ) -> None:
        self._invoker = invoker
        self._function = function
        self._payloads = payloads
        self._limit = limit

    def send(
        self, envelopes: Sequence[dict[str, Any]], time_left: Callable[[], float] | None = None
    ) -> int:
        if envelopes:
            self._invoker.invoke_all(
                self._function, [self._payloads.shrink(e, self._limit) for e in envelopes]
            )
        return len(envelopes)


class SqsSink:
    """`sqs:` targets (the Job Observer pattern): SendMessageBatch, 10 a call; entries
    that fail are sent again with backoff."""

    def __init__(
        self,
        client: Any,
        queue_url: str,
        payloads: PayloadStore,
        *,
        backoff: Backoff | None = None,
        limit: int = INLINE_ENVELOPE_LIMIT,
    ) -> None:
        self._sqs = client
        self._queue_url = queue_url
        self._payloads = payloads
        self._backoff = backoff or Backoff()
        self._limit = limit

    def send(
        self, envelopes: Sequence[dict[str, Any]], time_left: Callable[[], float] | None = None
    ) -> int:
        for start in range(0, len(envelopes), 10):
            pending = {
                str(i): self._payloads.shrink(e, self._limit).decode()
                for i, e in enumerate(envelopes[start : start + 10])
            }
            for attempt in range(self._backoff.tries):
                entries = [{"Id": i, "MessageBody": body} for i, body in pending.items()]
                try:
                    response = self._sqs.send_message_batch(
                        QueueUrl=self._queue_url, Entries=entries
                    )
                except (ClientError, BotoCoreError) as exc:
                    if not _retryable(exc) or attempt == self._backoff.tries - 1:
                        raise Unavailable(f"could not send to {self._queue_url}: {exc}") from exc
                    self._backoff.pause(attempt)
                    continue
                failed = {f["Id"] for f in response.get("Failed", [])}
                pending = {i: b for i, b in pending.items() if i in failed}
                if not pending:
                    break
                self._backoff.pause(attempt)
            if pending:
                raise Unavailable(f"{len(pending)} message(s) were refused by {self._queue_url}")
        return len(envelopes)


@dataclass(frozen=True)
class HttpAnswer:
    """What an `http:` target answered for one job: the job's result."""

    envelope: dict[str, Any]
    ok: bool
    error: str
    tries: int
    duration_ms: float
    output: str | None = None
    truncated: bool = False


class HttpSink:
    """`http:` targets from Lambda: POST each envelope (urllib, no third-party client).

    The answers are the jobs' results, so each batch's go to `on_results` together (one
    batch for the recorder); a 5xx or connection error is retried up to `max_attempts`.
    Given `time_left`, no request may outlast it: each waits at most what is left, and
    the sink stops before a job it has no time for (the publisher continues from there),
    so a Lambda never times out mid-batch and is retried into sending jobs twice.
    """

    def __init__(
        self,
        url: str,
        on_results: Callable[[Sequence[HttpAnswer]], None],
        *,
        max_attempts: int,
        timeout: float,
        backoff: Backoff | None = None,
    ) -> None:
        self._url = url
        self._on_results = on_results
        self._max_attempts = max_attempts
        self._timeout = timeout
        self._backoff = backoff or Backoff()

    def send(
        self, envelopes: Sequence[dict[str, Any]], time_left: Callable[[], float] | None = None
    ) -> int:
        answers = []
        for envelope in envelopes:
            if time_left is not None and time_left() < _MIN_REQUEST_SECONDS:
                break
            started = time.monotonic()
            ok, error, body, tries = False, "", b"", 0
            for tries in range(1, self._max_attempts + 1):
                timeout = self._timeout if time_left is None else min(self._timeout, time_left())
                ok, error, body, retry = self._post(envelope, max(timeout, 0.001))
                if ok or not retry:
                    break
                if time_left is not None and time_left() < _MIN_REQUEST_SECONDS:
                    break  # no time to try again here: the failure is this job's result
                if tries < self._max_attempts:
                    self._backoff.pause(tries)
            output, truncated = bound_output(_answer_value(body)) if ok else (None, False)
            answers.append(
                HttpAnswer(
                    envelope,
                    ok,
                    error,
                    tries,
                    (time.monotonic() - started) * 1000,
                    output,
                    truncated,
                )
            )
        if answers:
            self._on_results(answers)
        return len(answers)

    def _post(self, envelope: dict[str, Any], timeout: float) -> tuple[bool, str, bytes, bool]:
        request = urllib.request.Request(  # noqa: S310 - the URL is the group's registered http(s) target
            self._url,
            data=_encode(envelope),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                body = response.read(_ANSWER_BYTES)
            return True, "", body, False
        except urllib.error.HTTPError as exc:
            retry = exc.code >= 500 or exc.code == 429
            return False, f"HTTP {exc.code} from {self._url}", b"", retry
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            return False, f"could not reach {self._url}: {exc}", b"", True


#: a request is not started with less time than this left
_MIN_REQUEST_SECONDS = 1.0
#: an answer's body is read up to this many bytes; the result keeps MAX_OUTPUT_BYTES of it
_ANSWER_BYTES = 64 * 1024


def _answer_value(body: bytes) -> Any:
    """An answer's body as the job's return value: its JSON, else its text, else None."""
    if not body:
        return None
    text = body.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()
