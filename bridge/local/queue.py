"""A results queue and the event source mapping that drains it into the recorder.

On AWS, workers' destinations send each result record to an SQS queue, and Lambda's
event source mapping hands the recorder batches of up to `batch_size` records, waiting
up to `window` seconds to fill one (and never more than the 6 MB a synchronous
invocation carries). Records whose batch failed come back after the queue's visibility
timeout; records the recorder names in `batchItemFailures` come back alone.

`BatchPoller` is that mapping, over either queue: `LocalQueue` (memory, for `cronbridge
serve`) or `SqsQueue` (a real or moto SQS queue, for the sandbox). `ResultDestination`
is what a worker's destination does: send the record, or, when it is larger than a
queue message may be, drop it and count a `DestinationDeliveryFailures`, as Lambda does.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "BATCH_BYTES",
    "DESTINATION_LIMIT",
    "BatchPoller",
    "LocalQueue",
    "MessageQueue",
    "QueueMessage",
    "ResultDestination",
    "SqsQueue",
]

log = logging.getLogger("cronbridge.local.queue")

#: a synchronous invocation's payload limit, which bounds an event source batch
BATCH_BYTES = 6 * 1024 * 1024
#: the largest destination record delivered; Lambda drops a record it cannot deliver
#: (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
#: 256 KiB is the limit documented for SNS destinations and SQS's before 2025.
DESTINATION_LIMIT = 256 * 1024


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    receipt: str
    body: str
    receive_count: int


class MessageQueue(Protocol):
    arn: str

    def send(self, body: str) -> None: ...
    def receive(self, max_messages: int, wait: float) -> list[QueueMessage]: ...
    def delete(self, receipts: Sequence[str]) -> None: ...
    def empty(self) -> bool:
        """Nothing visible and nothing in flight."""
        ...


class LocalQueue:
    """SQS's visible / in-flight life of a message, in memory."""

    arn = "arn:aws:sqs:local:000000000000:cronbridge-results"

    def __init__(self, *, visibility: float = 30.0) -> None:
        self._visibility = visibility
        self._ready: collections.deque[tuple[str, str, int]] = collections.deque()
        self._flight: dict[str, tuple[float, str, str, int]] = {}  # receipt -> due, id, body, n
        self._lock = threading.Condition()

    def send(self, body: str) -> None:
        with self._lock:
            self._ready.append((str(uuid.uuid4()), body, 0))
            self._lock.notify_all()

    def receive(self, max_messages: int, wait: float) -> list[QueueMessage]:
        end = time.monotonic() + wait
        with self._lock:
            while True:
                self._return_expired()
                if self._ready or time.monotonic() >= end:
                    break
                self._lock.wait(timeout=min(0.05, max(0.0, end - time.monotonic())))
            taken: list[QueueMessage] = []
            while self._ready and len(taken) < max_messages:
                message_id, body, count = self._ready.popleft()
                receipt = uuid.uuid4().hex
                self._flight[receipt] = (
                    time.monotonic() + self._visibility,
                    message_id,
                    body,
                    count + 1,
                )
                taken.append(QueueMessage(message_id, receipt, body, count + 1))
            return taken

    def delete(self, receipts: Sequence[str]) -> None:
        with self._lock:
            for receipt in receipts:
                self._flight.pop(receipt, None)
            self._lock.notify_all()

    def empty(self) -> bool:
        with self._lock:
            return not self._ready and not self._flight

    def wait_empty(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        with self._lock:
            while self._ready or self._flight:
                self._return_expired()
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(timeout=min(0.05, left))
            return True

    def _return_expired(self) -> None:
        now = time.monotonic()
        for receipt, (due, message_id, body, count) in list(self._flight.items()):
            if due <= now:
                del self._flight[receipt]
                self._ready.append((message_id, body, count))


class SqsQueue:
    """An SQS queue through boto3 (moto's in the sandbox)."""

    def __init__(self, client: Any, url: str) -> None:
        self._sqs = client
        self.url = url
        self.arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def send(self, body: str) -> None:
        self._sqs.send_message(QueueUrl=self.url, MessageBody=body)

    def receive(self, max_messages: int, wait: float) -> list[QueueMessage]:
        # Long polling in whole seconds, as SQS counts them: an idle poller asks about
        # once a second, not in a busy loop.
        response = self._sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            WaitTimeSeconds=max(1, min(20, math.ceil(wait))) if wait > 0 else 0,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        return [
            QueueMessage(
                m["MessageId"],
                m["ReceiptHandle"],
                m["Body"],
                int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
            )
            for m in response.get("Messages", [])
        ]

    def delete(self, receipts: Sequence[str]) -> None:
        for start in range(0, len(receipts), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": receipt}
                for i, receipt in enumerate(receipts[start : start + 10])
            ]
            self._sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)

    def empty(self) -> bool:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return all(int(v) == 0 for v in attributes.values())


class ResultDestination:
    """A worker's success and failure destination: the results queue."""

    def __init__(self, queue: MessageQueue, *, limit: int = DESTINATION_LIMIT) -> None:
        self.queue = queue
        self._limit = limit
        self._lock = threading.Lock()
        self.delivery_failures = 0  # Lambda's DestinationDeliveryFailures

    def __call__(self, record: dict[str, Any]) -> None:
        body = json.dumps(record, separators=(",", ":"), default=str)
        if len(body.encode()) > self._limit:
            with self._lock:
                self.delivery_failures += 1
            log.warning(
                "destination record dropped: larger than a queue message may be",
                extra={"bytes": len(body.encode()), "limit": self._limit},
            )
            return
        self.queue.send(body)


Handler = Callable[[dict[str, Any]], Any]


class BatchPoller:
    """Lambda's SQS event source mapping: batches from `queue` into `handler`."""

    def __init__(
        self,
        queue: MessageQueue,
        handler: Handler,
        *,
        batch_size: int = 1000,
        window: float = 1.0,
        poll_wait: float = 0.2,
        name: str = "results",
    ) -> None:
        self.queue = queue
        self._handler = handler
        self._batch_size = batch_size
        self._window = window
        self._poll_wait = poll_wait
        self.name = name
        self._stop = threading.Event()
        self._busy = threading.Event()
        self.batches = 0
        self._thread = threading.Thread(target=self._run, name=f"poller-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def busy(self) -> bool:
        return self._busy.is_set()

    def poll_once(self) -> int:
        """Gather one batch (up to the window) and hand it over; its size."""
        batch: list[QueueMessage] = []
        size = 0
        first: float | None = None
        while len(batch) < self._batch_size and not self._stop.is_set():
            wait = self._poll_wait if first is None else self._window - (time.monotonic() - first)
            if first is not None and wait <= 0:
                break
            messages = self.queue.receive(min(10, self._batch_size - len(batch)), max(0.0, wait))
            if not messages:
                if first is None:
                    return 0
                continue
            self._busy.set()
            first = first if first is not None else time.monotonic()
            for message in messages:
                size += len(message.body.encode())
                batch.append(message)
            if size >= BATCH_BYTES - 256 * 1024:
                break
        if not batch:
            return 0
        try:
            self._deliver(batch)
        finally:
            self._busy.clear()
        return len(batch)

    def _deliver(self, batch: list[QueueMessage]) -> None:
        event = {"Records": [self._record(m) for m in batch]}
        self.batches += 1
        try:
            response = self._handler(event)
        except Exception:  # like Lambda: the whole batch comes back later
            log.exception("batch failed", extra={"queue": self.name, "records": len(batch)})
            return
        failures = response.get("batchItemFailures", []) if isinstance(response, dict) else []
        failed = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)}
        self.queue.delete([m.receipt for m in batch if m.message_id not in failed])

    def _record(self, message: QueueMessage) -> dict[str, Any]:
        return {
            "messageId": message.message_id,
            "receiptHandle": message.receipt,
            "body": message.body,
            "attributes": {"ApproximateReceiveCount": str(message.receive_count)},
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(message.body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue.arn,
            "awsRegion": self.queue.arn.split(":")[3],
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # a poller outlives any one failure, as Lambda's does
                log.exception("results poller failed; polling again")
                time.sleep(self._poll_wait)
