"""Delivery from the publisher Lambda: SQS batches and HTTP POSTs (real loopback server)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import boto3
import pytest

from bridge.local.loopback import LoopbackServer
from publishers.delivery import Backoff, HttpAnswer, HttpSink, PayloadStore, SqsSink


def envelope(job: str) -> dict[str, Any]:
    return {
        "cronbridge": {
            "run": "g.r",
            "group": "g",
            "list": "a",
            "job": job,
            "scheduled_time": "t",
            "attempt": 1,
        },
        "payload": {"job": job},
    }


NO_WAIT = Backoff(tries=4, sleep=lambda s: None)


def test_sqs_sends_batches_of_ten_and_every_message_arrives(aws: None) -> None:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="state")
    sink = SqsSink(sqs, url, PayloadStore(s3, "state"), backoff=NO_WAIT)
    sink.send([envelope(f"j{i}") for i in range(25)])
    received = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        received += [json.loads(m["Body"])["cronbridge"]["job"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
        )
    assert sorted(received) == sorted(f"j{i}" for i in range(25))


class FlakySqs:
    """SendMessageBatch that fails some entries the first time, as SQS may."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        jobs = [json.loads(e["MessageBody"])["cronbridge"]["job"] for e in Entries]
        self.calls.append(jobs)
        failed = [e for e in Entries if len(self.calls) == 1 and int(e["Id"]) % 3 == 0]
        return {
            "Failed": [
                {"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in failed
            ]
        }


def test_sqs_entries_that_fail_are_sent_again_and_only_they() -> None:
    flaky = FlakySqs()
    SqsSink(flaky, "q", PayloadStore(None, "state"), backoff=NO_WAIT).send(
        [envelope(f"j{i}") for i in range(7)]
    )
    assert flaky.calls == [[f"j{i}" for i in range(7)], ["j0", "j3", "j6"]]


class _Target(BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        job = body["cronbridge"]["job"]
        with self.server.lock:
            self.server.seen.append(job)
            count = self.server.seen.count(job)
        status = {"ok": 200, "flaky": 503 if count == 1 else 200, "down": 503, "bad": 400}[job]
        answer = json.dumps({"job": job}).encode() if status == 200 else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def target() -> Iterator[LoopbackServer]:
    server = LoopbackServer(_Target)
    server.seen = []  # type: ignore[attr-defined]
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    server.start()
    yield server
    server.stop()


def test_http_posts_each_envelope_and_reports_the_batchs_results_at_once(
    target: LoopbackServer,
) -> None:
    batches: list[list[HttpAnswer]] = []
    sink = HttpSink(
        f"{target.url}/jobs",
        lambda answers: batches.append(list(answers)),
        max_attempts=3,
        timeout=5,
        backoff=NO_WAIT,
    )
    sink.send([envelope(j) for j in ("ok", "flaky", "down", "bad")])
    [answers] = batches  # one batch of results for the recorder
    assert [
        (a.envelope["cronbridge"]["job"], a.ok, a.error, a.tries, a.output) for a in answers
    ] == [
        ("ok", True, "", 1, '{"job":"ok"}'),  # the answer's body is the job's return value
        ("flaky", True, "", 2, '{"job":"flaky"}'),
        ("down", False, f"HTTP 503 from {target.url}/jobs", 3, None),
        ("bad", False, f"HTTP 400 from {target.url}/jobs", 1, None),  # a 4xx is not retried
    ]


def test_http_unreachable_is_a_failed_result_not_a_crash() -> None:
    results: list[tuple[bool, str]] = []
    sink = HttpSink(
        "http://127.0.0.1:9/jobs",
        lambda answers: results.extend((a.ok, a.error) for a in answers),
        max_attempts=2,
        timeout=2,
        backoff=NO_WAIT,
    )
    sink.send([envelope("ok")])
    assert results[0][0] is False and results[0][1].startswith(
        "could not reach http://127.0.0.1:9/jobs"
    )


class _Slow(BaseHTTPRequestHandler):
    """Answers after `delay` seconds (or never, for `hang`): a target slower than a leaf."""

    server: LoopbackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["cronbridge"]["job"] == "hang":
            self.server.release.wait(30)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_http_never_outlasts_the_time_left_and_says_how_far_it_got() -> None:
    """The group allows 5 minutes a request, the leaf has 3 s: the hanging request gives
    up when the leaf's time does (not when the target answers), is not tried again, and
    the job after it is left for the publisher's continuation."""
    server = LoopbackServer(_Slow)
    server.release = threading.Event()  # type: ignore[attr-defined]
    server.start()
    answers: list[HttpAnswer] = []
    try:
        sink = HttpSink(
            f"{server.url}/jobs", answers.extend, max_attempts=3, timeout=300, backoff=NO_WAIT
        )
        end = time.monotonic() + 3.0
        sent = sink.send(
            [envelope(j) for j in ("ok", "hang", "later")], lambda: end - time.monotonic()
        )
    finally:
        server.release.set()  # type: ignore[attr-defined]
        server.stop()
    assert sent == 2
    assert [a.envelope["cronbridge"]["job"] for a in answers] == ["ok", "hang"]
    hung = answers[1]
    assert not hung.ok and "timed out" in hung.error and hung.tries == 1
