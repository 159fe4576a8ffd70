"""In-process fakes for the ports that start work: they record instead of running."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from bridge.domain.groups import GroupManifest
from bridge.domain.plan import PublisherUnit


class RecordingInvoker:
    """A PublisherInvoker that queues units; `fail_next` makes the next call raise."""

    def __init__(self) -> None:
        self.units: list[PublisherUnit] = []
        self.delays: list[float] = []  # of each unit, in order: 0 for now
        self.fail_next = 0

    def invoke_publishers(self, units: Sequence[PublisherUnit], delay: float = 0.0) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("injected: the invoke did not go through")
        self.units.extend(units)
        self.delays.extend(delay for _ in units)

    def take(self) -> list[PublisherUnit]:
        units, self.units, self.delays = self.units, [], []
        return units


class RecordingSink:
    """A JobSink that keeps every envelope; it can crash after `crash_after` envelopes."""

    def __init__(self) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self.crash_after: int | None = None
        self.calls = 0

    def __call__(self, manifest: GroupManifest) -> RecordingSink:
        return self

    def send(
        self, envelopes: Sequence[dict[str, Any]], time_left: Callable[[], float] | None = None
    ) -> int:
        self.calls += 1
        for envelope in envelopes:
            if self.crash_after is not None and len(self.envelopes) >= self.crash_after:
                self.crash_after = None
                raise RuntimeError("injected: publisher crashed mid-part")
            self.envelopes.append(envelope)
        return len(envelopes)

    def job_ids(self) -> list[str]:
        return [e["cronbridge"]["job"] for e in self.envelopes]


def sqs_event(records: Sequence[Any]) -> dict[str, Any]:
    """Destination records as the results queue's event source mapping delivers them."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "r",
                "body": json.dumps(record),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cronbridge-results",
                "awsRegion": "us-east-1",
            }
            for record in records
        ]
    }
