"""The worker helper: one effect per (run, job), on SQLite and on DynamoDB (moto)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from bridge.aws.ledger import table_definition
from bridge.domain.results import JobRef
from publishers.worker import (
    LEASE_SECONDS,
    Claim,
    ClaimStore,
    DuplicateInProgress,
    DynamoClaims,
    SqliteClaims,
    cronbridge_worker,
)


def envelope(job: str = "j1", run: str = "g.r") -> dict[str, Any]:
    return {
        "cronbridge": {
            "run": run,
            "group": "g",
            "list": "a",
            "job": job,
            "scheduled_time": "t",
            "attempt": 1,
        },
        "payload": {"n": 1},
    }


class Context:
    def __init__(self, request_id: str, millis: int = 60_000) -> None:
        self.aws_request_id = request_id
        self._millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self._millis


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ClaimStore:
    if request.param == "sqlite":
        return SqliteClaims(tmp_path / "ledger.sqlite3")
    request.getfixturevalue("aws")
    client = boto3.client("dynamodb")
    client.create_table(**table_definition("ledger"))
    return DynamoClaims(client, "ledger")


def counting_worker(
    store: ClaimStore, effects: list[str], fail: Callable[[], bool] = lambda: False
) -> Any:
    @cronbridge_worker(claims=lambda: store, sleep=lambda s: None)
    def handler(payload: Any, job: JobRef) -> dict[str, Any]:
        effects.append(job.job_id)
        if fail():
            raise RuntimeError("side effect failed")
        return {"job": job.job_id, "n": payload["n"]}

    return handler


def test_a_duplicate_invocation_returns_the_first_result_without_a_second_effect(
    store: ClaimStore,
) -> None:
    effects: list[str] = []
    handler = counting_worker(store, effects)
    first = handler(envelope(), Context("req-1"))
    again = handler(envelope(), Context("req-2"))
    assert first == again == {"job": "j1", "n": 1}
    assert effects == ["j1"]
    assert handler(envelope(run="g.other"), Context("req-3")) == {"job": "j1", "n": 1}
    assert effects == ["j1", "j1"]  # another run is another effect


def test_a_failure_releases_the_claim_so_the_retry_runs(store: ClaimStore) -> None:
    effects: list[str] = []
    failures = iter([True, False])
    handler = counting_worker(store, effects, fail=lambda: next(failures))
    with pytest.raises(RuntimeError, match="side effect failed"):
        handler(envelope(), Context("req-1"))
    assert handler(envelope(), Context("req-2")) == {"job": "j1", "n": 1}
    assert effects == ["j1", "j1"]


def test_a_duplicate_out_of_time_while_the_first_runs_asks_lambda_to_retry(
    store: ClaimStore,
) -> None:
    ref = JobRef("g.r", "g", "a", "j1", "t", 1)
    assert store.claim(ref, "someone-else", time.time()).state == "acquired"  # a live claim
    handler = counting_worker(store, [])
    with pytest.raises(DuplicateInProgress):
        handler(envelope(), Context("req-2", millis=1000))


def test_concurrent_duplicates_run_the_effect_once(tmp_path: Path) -> None:
    store = SqliteClaims(tmp_path / "ledger.sqlite3")
    effects: list[str] = []
    gate = threading.Event()

    @cronbridge_worker(claims=lambda: store, sleep=lambda s: gate.wait(0.01))
    def handler(payload: Any, job: JobRef) -> str:
        effects.append(job.job_id)
        gate.wait(0.05)
        return "done"

    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(handler(envelope(), Context(f"r{i}"))))
        for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["done"] * 6
    assert effects == ["j1"]


def test_a_raw_event_that_is_not_an_envelope_is_refused(store: ClaimStore) -> None:
    from bridge.exceptions import InvalidInput

    with pytest.raises(InvalidInput):
        counting_worker(store, [])({"hello": 1}, Context("r"))


def test_a_payload_too_large_to_send_inline_travels_by_reference(aws: None, tmp_path: Path) -> None:
    import json as _json

    from publishers.delivery import AsyncInvoker, LambdaSink, PayloadStore

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="state-bucket")
    sent: list[bytes] = []

    class FakeLambda:
        def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
            sent.append(Payload)
            return {"StatusCode": 202}

    big = {"blob": "x" * 5000}
    small = {"n": 1}
    sink = LambdaSink(
        AsyncInvoker(FakeLambda(), threads=2),
        "worker",
        PayloadStore(s3, "state-bucket"),
        limit=1024,
    )
    sink.send([{**envelope("big"), "payload": big}, {**envelope("small"), "payload": small}])
    events = sorted((_json.loads(p) for p in sent), key=lambda e: e["cronbridge"]["job"])
    assert all(len(p) <= 1024 for p in sent)
    assert events[0]["payload"] is None and events[0]["payload_ref"] == {
        "bucket": "state-bucket",
        "key": "payloads/g.r/a/big.json",
    }
    assert events[1]["payload"] == small and "payload_ref" not in events[1]
    received: list[Any] = []

    @cronbridge_worker(claims=lambda: SqliteClaims(tmp_path / "ledger.sqlite3"))
    def handler(payload: Any, job: JobRef) -> None:
        received.append(payload)

    for event in events:
        handler(event, Context(f"req-{event['cronbridge']['job']}"))
    assert received == [big, small]


def sqs_event(messages: list[dict[str, Any]], received: int = 1) -> dict[str, Any]:
    """Messages as Lambda's SQS event source delivers them."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": str(received),
                    "SentTimestamp": "1763780400000",
                },
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def test_an_sqs_consumer_records_its_results_so_the_run_ends(aws: None, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from bridge.aws.ledger import DynamoLedger
    from bridge.domain.runs import Run, RunState
    from bridge.usecases.jobs import job_results
    from publishers.delivery import PayloadStore, SqsSink
    from publishers.worker import ledger_recorder

    db = boto3.client("dynamodb")
    db.create_table(**table_definition("ledger"))
    ledger = DynamoLedger(db, "ledger")
    t0 = datetime(2026, 11, 22, 3, tzinfo=UTC)
    ledger.open_run(
        Run("g.r", "g", 1, RunState.RUNNING, 3, t0, t0, deadline=t0), previous=None, cancel=None
    )
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    SqsSink(sqs, url, PayloadStore(None, "unused")).send(
        [envelope(j) for j in ("ok-1", "ok-2", "bad")]
    )
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    effects: list[str] = []

    @cronbridge_worker(
        claims=lambda: SqliteClaims(tmp_path / "claims.sqlite3"),
        results=lambda: ledger_recorder(ledger),
        max_attempts=3,
    )
    def consume(payload: Any, job: JobRef) -> str:
        effects.append(job.job_id)
        if job.job_id == "bad":
            raise RuntimeError("cannot")
        return "done"

    first = consume(sqs_event(messages, received=1), Context("r1"))
    bad_id = next(m["MessageId"] for m in messages if "bad" in m["Body"])
    assert first == {"batchItemFailures": [{"itemIdentifier": bad_id}]}  # SQS will deliver it again
    run = ledger.get_run("g.r")
    assert run is not None and (run.succeeded, run.failed, run.state) == (2, 0, RunState.RUNNING)

    again = consume(sqs_event(messages, received=3), Context("r2"))  # the last receive of each
    assert again == {"batchItemFailures": []}
    assert sorted(effects) == ["bad", "bad", "ok-1", "ok-2"]  # no second effect for the done jobs
    run = ledger.get_run("g.r")
    assert run is not None and (run.succeeded, run.failed, run.state) == (2, 1, RunState.FAILED)
    [failed] = job_results(ledger, "g.r", "failed")
    assert (failed.ref.job_id, failed.tries, failed.error) == ("bad", 3, "RuntimeError: cannot")
    done = job_results(ledger, "g.r", "succeeded")
    assert [(r.ref.job_id, r.output) for r in done] == [("ok-1", '"done"'), ("ok-2", '"done"')]


def test_a_message_that_is_not_an_envelope_stays_in_the_queue(tmp_path: Path) -> None:
    recorded: list[Any] = []

    @cronbridge_worker(
        claims=lambda: SqliteClaims(tmp_path / "c.sqlite3"),
        results=lambda: lambda results: recorded.extend(results) or set(),
    )
    def consume(payload: Any, job: JobRef) -> None:
        raise AssertionError("never called")

    event = {
        "Records": [
            {"messageId": "m1", "body": "hello", "eventSource": "aws:sqs", "attributes": {}}
        ]
    }
    assert consume(event, Context("r")) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert recorded == []


def test_a_large_answer_is_capped_so_its_destination_record_can_be_delivered(
    tmp_path: Path,
) -> None:
    from bridge.domain.results import destination_record, parse_destination_record
    from bridge.local.queue import DESTINATION_LIMIT
    from publishers.delivery import INLINE_ENVELOPE_LIMIT
    from publishers.worker import RESPONSE_LIMIT

    @cronbridge_worker(claims=lambda: SqliteClaims(tmp_path / "c.sqlite3"))
    def handler(payload: Any, job: JobRef) -> dict[str, Any]:
        return {"rows": ["x" * 100] * 5000}  # about 500 KB of JSON

    largest = envelope()
    largest["payload"] = {"blob": "y" * (INLINE_ENVELOPE_LIMIT - 300)}  # inline, at the limit
    answer = handler(largest, Context("req-1"))
    assert answer["truncated"] is True and answer["bytes"] > 500_000
    record = destination_record(
        largest,
        succeeded=True,
        tries=1,
        response=answer,
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:worker",
        request_id="req-1",
        timestamp=datetime(2026, 11, 22, tzinfo=UTC),
    )
    assert len(json.dumps(record).encode()) <= DESTINATION_LIMIT
    assert RESPONSE_LIMIT + INLINE_ENVELOPE_LIMIT < DESTINATION_LIMIT
    result = parse_destination_record(record)  # the ledger keeps 4 KiB, and says it cut
    assert result.truncated is True and result.output is not None
    assert result.output.startswith('{"truncated":true,"bytes":')


# -- leases and take-over: a claim outlives its attempt only as long as it could run ----

REF = JobRef("g.r", "g", "a", "j1", "t", 1)


@pytest.fixture(params=["sqlite", "dynamodb"])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[ClaimStore, ClaimStore]:
    """Two stores on one ledger, as two live workers (two processes, two containers) see it."""
    if request.param == "sqlite":
        return SqliteClaims(tmp_path / "ledger.sqlite3"), SqliteClaims(tmp_path / "ledger.sqlite3")
    request.getfixturevalue("aws")
    client = boto3.client("dynamodb")
    client.create_table(**table_definition("ledger"))
    return DynamoClaims(client, "ledger"), DynamoClaims(client, "ledger")


def test_a_claim_holds_until_its_lease_then_another_attempt_takes_it_over(
    two_stores: tuple[ClaimStore, ClaimStore],
) -> None:
    crashed, other = two_stores
    assert crashed.claim(REF, "crashed", 1000.0, lease_until=1010.0).state == "acquired"
    assert other.claim(REF, "resend", 1009.0, lease_until=1100.0).state == "busy"
    assert other.claim(REF, "resend", 1011.0, lease_until=1100.0).state == "acquired"
    assert crashed.claim(REF, "third", 1050.0, lease_until=1200.0).state == "busy"  # its lease
    other.complete(REF, "resend", {"n": 1})
    assert crashed.claim(REF, "third", 1150.0, lease_until=1200.0) == Claim("done", {"n": 1})


class FakeTime:
    """Wall-clock seconds that move only when something sleeps on them."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.sleeps = 0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


class ClockedContext:
    """A Lambda context whose remaining time runs on a FakeTime."""

    def __init__(self, request_id: str, clock: FakeTime, seconds: float) -> None:
        self.aws_request_id = request_id
        self._clock = clock
        self._deadline = clock.now + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock.now) * 1000))


def test_a_claim_lasts_as_long_as_its_attempt_may_run() -> None:
    from publishers.worker import LEASE_MARGIN_SECONDS

    leases: list[tuple[float, float | None]] = []

    class RecordingClaims:
        def claim(
            self, ref: JobRef, owner: str, now: float, lease_until: float | None = None
        ) -> Claim:
            leases.append((now, lease_until))
            return Claim("acquired")

        def complete(self, ref: JobRef, owner: str, result: Any) -> None:
            pass

        def release(self, ref: JobRef, owner: str) -> None:
            pass

    clock = FakeTime(1000.0)
    handler = cronbridge_worker(
        lambda payload, job: "done", claims=RecordingClaims, clock=clock.time, sleep=clock.sleep
    )
    handler(envelope(), ClockedContext("req-1", clock, seconds=30))
    handler(envelope(), None)  # called by hand: no deadline known
    assert leases == [
        (1000.0, 1000.0 + 30 + LEASE_MARGIN_SECONDS),
        (1000.0, 1000.0 + LEASE_SECONDS),
    ]


def test_a_duplicate_waits_while_the_lease_holds_and_takes_over_when_it_ends(
    two_stores: tuple[ClaimStore, ClaimStore],
) -> None:
    """The first attempt died holding its claim (Lambda ended it at its timeout): the
    resend waits out what is left of its lease, no longer, and runs the job once."""
    crashed, other = two_stores
    clock = FakeTime(1000.0)
    crashed.claim(REF, "crashed", clock.now, lease_until=clock.now + 10)
    effects: list[str] = []

    @cronbridge_worker(claims=lambda: other, clock=clock.time, sleep=clock.sleep)
    def handler(payload: Any, job: JobRef) -> str:
        effects.append(job.job_id)
        return "done"

    assert handler(envelope(), ClockedContext("resend", clock, seconds=60)) == "done"
    assert (effects, clock.sleeps) == (["j1"], 11)  # polled once a second until 1011


def test_a_duplicate_out_of_time_before_the_lease_ends_still_asks_lambda_to_retry(
    two_stores: tuple[ClaimStore, ClaimStore],
) -> None:
    crashed, other = two_stores
    clock = FakeTime(1000.0)
    crashed.claim(REF, "crashed", clock.now, lease_until=clock.now + 10)
    handler = cronbridge_worker(
        lambda payload, job: "ran", claims=lambda: other, clock=clock.time, sleep=clock.sleep
    )
    with pytest.raises(DuplicateInProgress, match="is running elsewhere"):
        handler(envelope(), ClockedContext("short", clock, seconds=5))
    assert handler(envelope(), ClockedContext("later", clock, seconds=60)) == "ran"


class Interleaved:
    """The real (moto) DynamoDB client, except that the first read of an item lets
    `between` run before it answers: a second taker acts after the first has read."""

    def __init__(self, client: Any, between: Callable[[], None]) -> None:
        self._client = client
        self._between: Callable[[], None] | None = between

    def get_item(self, **kwargs: Any) -> Any:
        answer = self._client.get_item(**kwargs)
        between, self._between = self._between, None
        if between is not None:
            between()
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_two_attempts_taking_over_one_expired_dynamodb_claim_one_wins(aws: None) -> None:
    client = boto3.client("dynamodb")
    client.create_table(**table_definition("ledger"))
    DynamoClaims(client, "ledger").claim(REF, "crashed", 1000.0, lease_until=1010.0)
    outcomes: dict[str, str] = {}

    def second_taker() -> None:
        taken = DynamoClaims(client, "ledger").claim(REF, "second", 1011.0, lease_until=1100.0)
        outcomes["second"] = taken.state

    first = DynamoClaims(Interleaved(client, second_taker), "ledger")
    outcomes["first"] = first.claim(REF, "first", 1011.0, lease_until=1100.0).state
    assert outcomes == {"second": "acquired", "first": "busy"}  # both read it expired
    item = client.get_item(
        TableName="ledger", Key={"pk": {"S": "claim#g.r#j1"}, "sk": {"S": "claim"}}
    )
    assert item["Item"]["owner"] == {"S": "second"}


_HOLD_A_CLAIM = """
import sys, time
from pathlib import Path
from bridge.domain.results import JobRef
from publishers.worker import SqliteClaims
store = SqliteClaims(Path(sys.argv[1]))
print(store.claim(JobRef("g.r", "g", "a", "j1", "t", 1), "elsewhere", time.time()).state, flush=True)
sys.stdin.read()
"""


def claim_in_another_process(path: Path) -> subprocess.Popen[str]:
    """A process that claims REF (lease: the 900 s fallback) and holds it until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_CLAIM, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "acquired"
    return proc


def kill(proc: subprocess.Popen[str]) -> None:
    proc.kill()  # SIGKILL: no cleanup of its own runs
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream:
            stream.close()


def test_a_local_claim_holds_while_its_process_lives_and_is_taken_over_once_it_is_gone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    holder = claim_in_another_process(path)
    store = SqliteClaims(path)
    try:
        assert store.claim(REF, "here", time.time()).state == "busy"
    finally:
        kill(holder)
    assert store.claim(REF, "here", time.time()).state == "acquired"  # no lease to wait out
    assert [p.suffix for p in path.with_name("ledger.sqlite3.holders").iterdir()] == [".lock"]


def test_two_attempts_taking_over_a_dead_processes_claim_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    kill(claim_in_another_process(path))
    takers = [SqliteClaims(path) for _ in range(8)]  # as 8 live processes would
    start = threading.Barrier(len(takers))
    outcomes: list[str] = []

    def take(store: ClaimStore, owner: str) -> None:
        start.wait()
        outcomes.append(store.claim(REF, owner, time.time()).state)

    threads = [
        threading.Thread(target=take, args=(store, f"taker-{i}")) for i, store in enumerate(takers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["acquired"] + ["busy"] * 7


def test_a_local_attempt_past_its_lease_keeps_its_claim_while_it_runs(tmp_path: Path) -> None:
    """The local runtime cannot cut a handler short at its timeout: in the process that
    runs it, the claim holds until the attempt ends, whatever its lease says."""
    store = SqliteClaims(tmp_path / "ledger.sqlite3")
    assert store.claim(REF, "slow", 1000.0, lease_until=1010.0).state == "acquired"
    assert store.claim(REF, "resend", 2000.0, lease_until=2100.0).state == "busy"
    store.release(REF, "slow")
    assert store.claim(REF, "resend", 2001.0, lease_until=2100.0).state == "acquired"
