"""The Lambda handlers, fed with event shapes as AWS documents them, against moto."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

from bridge.aws.ledger import DynamoLedger
from bridge.aws.registry import S3Registry
from bridge.aws.runtime import AwsRuntime
from bridge.domain.runs import RunState
from bridge.exceptions import Unavailable
from bridge.lambdas import dispatcher, recorder
from bridge.usecases.jobs import job_results
from publishers.lambdas import publisher
from tests.aws_world import SETTINGS, load_event, make_account, put_trigger, register
from tests.conftest import FakeClock
from tests.fakes import RecordingInvoker, sqs_event


@pytest.fixture
def account(aws: None, clock: FakeClock, tmp_path: Path) -> Iterator[AwsRuntime]:
    runtime = make_account(clock)
    register(runtime, tmp_path, "nightly", {"eu": 2500, "us": 3})
    register(runtime, tmp_path, "hourly", {"all": 2})
    yield runtime
    runtime.invoker.close()


def dispatch(runtime: AwsRuntime, event: Any) -> dict[str, Any]:
    """The event as S3 sends it for what is in the bucket now: each record names the
    ETag of the write it is about."""
    event = copy.deepcopy(event)
    for record in event.get("Records", []):
        obj = record.get("s3", {}).get("object", {})
        try:
            head = runtime.s3.head_object(
                Bucket=SETTINGS.trigger_bucket, Key=unquote_plus(obj.get("key", ""))
            )
        except ClientError:
            continue  # gone: the record keeps the ETag it has
        obj["eTag"] = head["ETag"].strip('"')
    return dispatcher.make_handler(lambda: runtime)(event, None)


def units(runtime: AwsRuntime) -> RecordingInvoker:
    assert isinstance(runtime.publishers, RecordingInvoker)
    return runtime.publishers


@pytest.mark.parametrize("name", ["s3-put-2.1.json", "s3-put-2.2.json", "s3-put-2.3.json"])
def test_each_documented_event_version_opens_one_run(account: AwsRuntime, name: str) -> None:
    event = load_event(name)
    put_trigger(account, unquote_plus(event["Records"][0]["s3"]["object"]["key"]))
    assert dispatch(account, event) == {"opened": 1}
    [run] = account.ledger.list_runs("nightly", 10)
    assert (run.state, run.total, run.version) == (RunState.RUNNING, 2503, 1)
    assert [(u.list_name, u.first_part, u.end_part) for u in units(account).units] == [
        ("eu", 0, 3),
        ("us", 0, 1),
    ]
    # S3 may deliver the same event twice: still one run, no second launch.
    assert dispatch(account, event) == {"duplicate": 1}
    assert len(units(account).units) == 2


def test_url_encoded_keys_are_decoded(account: AwsRuntime) -> None:
    put_trigger(account, "triggers/nightly/from logic apps")  # the event says from+logic+apps
    assert dispatch(account, load_event("s3-put-2.2.json")) == {"opened": 1}
    put_trigger(account, "triggers/nightly")  # the event says triggers%2Fnightly
    # A second write for the same group while its run is running: overlap=skip.
    assert dispatch(account, load_event("s3-put-2.3.json")) == {"skipped": 1}
    assert [r.state for r in account.ledger.list_runs("nightly", 10)] == [
        RunState.SKIPPED,
        RunState.RUNNING,
    ]


def test_one_event_with_several_records_decides_each_alone(account: AwsRuntime) -> None:
    for key in ("triggers/nightly", "triggers/hourly"):
        put_trigger(account, key)
    counts = dispatch(account, load_event("s3-put-multi.json"))
    assert counts == {"opened": 2, "rejected": 3}
    assert sorted(r.group for r in account.ledger.list_runs(None, 10)) == ["hourly", "nightly"]


def test_the_s3_test_event_is_ignored(account: AwsRuntime) -> None:
    assert dispatch(account, load_event("s3-test-event.json")) == {"ignored": 1}
    assert account.ledger.list_runs(None, 10) == []


def test_a_scheduled_body_is_read_and_its_slot_names_the_run(account: AwsRuntime) -> None:
    put_trigger(
        account,
        "triggers/nightly",
        b'{"scheduled_time": "2026-11-22T03:00:00Z", "source": "logic-apps"}',
    )
    assert dispatch(account, load_event("s3-put-2.1.json")) == {"opened": 1}
    run = account.ledger.get_run("nightly.20261122T030000Z")
    assert run is not None and run.source == "logic-apps"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"x" * 5000, "over 4 KiB"),
        (b"{oops", "not JSON"),
        (b'{"scheduled_time": "later"}', "bad time"),
    ],
)
def test_bad_bodies_are_rejected_without_a_run(account: AwsRuntime, body: bytes, why: str) -> None:
    put_trigger(account, "triggers/nightly", body)
    assert dispatch(account, load_event("s3-put-2.1.json")) == {"rejected": 1}, why
    assert account.ledger.list_runs(None, 10) == []


def test_two_close_puts_each_open_their_own_slot_or_are_superseded(account: AwsRuntime) -> None:
    """The event of the first write, read after a second write, must not take the
    second write's body: it is superseded, and the second write's event opens its slot."""
    first = account.s3.put_object(
        Bucket=SETTINGS.trigger_bucket,
        Key="triggers/nightly",
        Body=b'{"scheduled_time": "2026-11-22T03:00:00Z"}',
    )["ETag"]
    account.s3.put_object(
        Bucket=SETTINGS.trigger_bucket,
        Key="triggers/nightly",
        Body=b'{"scheduled_time": "2026-11-22T04:00:00Z"}',
    )
    stale = load_event("s3-put-2.1.json")
    stale["Records"][0]["s3"]["object"]["eTag"] = first.strip('"')
    handle = dispatcher.make_handler(lambda: account)
    assert handle(stale, None) == {"superseded": 1}
    assert account.ledger.list_runs(None, 10) == []
    assert dispatch(account, load_event("s3-put-2.1.json")) == {"opened": 1}
    assert account.ledger.get_run("nightly.20261122T040000Z") is not None


class DeniedRegistryReads:
    """An S3 client as a role without s3:ListBucket sees it: a missing key is 403."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object(self, **kwargs: Any) -> Any:
        try:
            return self._client.get_object(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchKey":
                raise
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject"
            ) from None


@pytest.mark.parametrize("denied", [False, True], ids=["404", "403"])
def test_a_trigger_of_an_unknown_group_is_rejected_not_retried(
    account: AwsRuntime, denied: bool
) -> None:
    if denied:
        account.registry = S3Registry(DeniedRegistryReads(account.s3), SETTINGS.state_bucket)
    event = load_event("s3-put-2.1.json")
    event["Records"][0]["s3"]["object"]["key"] = "triggers/unknown"
    put_trigger(account, "triggers/unknown")
    assert dispatch(account, event) == {"rejected": 1}  # no exception: Lambda does not retry
    assert account.ledger.list_runs(None, 10) == []


def test_a_vanished_trigger_object_is_rejected(account: AwsRuntime) -> None:
    assert dispatch(account, load_event("s3-put-2.1.json")) == {"rejected": 1}


def test_the_publisher_splits_then_dispatches_to_the_worker_function(account: AwsRuntime) -> None:
    put_trigger(account, "triggers/nightly")
    dispatch(account, load_event("s3-put-2.1.json"))
    invoked: list[tuple[str, dict[str, Any]]] = []

    class FakeLambda:
        """Stands in for Lambda's Invoke API: accepts and remembers."""

        def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
            assert InvocationType == "Event"
            invoked.append((FunctionName, json.loads(Payload)))
            return {"StatusCode": 202}

    from publishers.delivery import AsyncInvoker

    account.invoker = AsyncInvoker(FakeLambda(), threads=4)
    handle = publisher.make_handler(lambda: account)
    queue = units(account).take()
    while queue:
        for unit in queue:
            handle(unit.to_dict(), None)
        queue = units(account).take()
    assert {name for name, _ in invoked} == {"worker"}
    jobs = [payload["cronbridge"]["job"] for _, payload in invoked]
    assert len(jobs) == len(set(jobs)) == 2503
    run = account.ledger.get_run(account.ledger.list_runs("nightly", 1)[0].run_id)
    assert run is not None and run.dispatched == 2503


def test_the_recorder_counts_documented_records_once(account: AwsRuntime) -> None:
    put_trigger(account, "triggers/nightly", b'{"scheduled_time": "2026-11-22T03:00:00Z"}')
    dispatch(account, load_event("s3-put-2.1.json"))
    record = load_event("destination-success.json")
    failure = load_event("destination-failure.json")
    handle = recorder.make_handler(lambda: account)
    batch = sqs_event([record, copy.deepcopy(record), failure, {"requestContext": {}}])
    assert handle(batch, None) == {"batchItemFailures": []}  # the bad one is only rejected
    assert handle(sqs_event([record]), None) == {"batchItemFailures": []}
    assert handle(record, None) == {"batchItemFailures": []}  # straight from a destination
    run = account.ledger.get_run("nightly.20261122T030000Z")
    # While a run goes, counters may run ahead (the record arrived again in other batches);
    # what is stored resolves to one result per job.
    assert run is not None and (run.succeeded, run.failed) == (3, 1)
    stored = job_results(account.ledger, run.run_id)
    assert [(r.ref.job_id, r.status.value) for r in stored] == [
        ("job-42", "succeeded"),
        ("job-43", "failed"),
    ]
    [failed] = job_results(account.ledger, run.run_id, "failed")
    assert (failed.ref.job_id, failed.tries, failed.error.split("\n")[0]) == (
        "job-43",
        3,
        "RuntimeError: upstream returned 503",
    )


class ThrottledFor:
    """A DynamoDB client that refuses every batch write touching one run."""

    def __init__(self, client: Any, run_id: str) -> None:
        self._client = client
        self._run = run_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, **kwargs: Any) -> Any:
        if self._run in json.dumps(kwargs):
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                "BatchWriteItem",
            )
        return self._client.batch_write_item(**kwargs)


def test_a_run_that_cannot_be_stored_sends_back_only_its_own_records(
    account: AwsRuntime,
) -> None:
    put_trigger(account, "triggers/nightly", b'{"scheduled_time": "2026-11-22T03:00:00Z"}')
    dispatch(account, load_event("s3-put-2.1.json"))
    other = account.ledger.get_run("nightly.20261122T030000Z")
    assert other is not None  # a second run of the group, beside the first
    account.ledger.open_run(
        replace(other, run_id="nightly.20261122T040000Z"), previous=other.run_id, cancel=None
    )
    first = load_event("destination-success.json")
    second = copy.deepcopy(first)
    second["requestPayload"]["cronbridge"]["run"] = "nightly.20261122T040000Z"
    account.ledger = DynamoLedger(
        ThrottledFor(account.dynamodb, "nightly.20261122T040000Z"), SETTINGS.ledger_table
    )
    batch = sqs_event([first, second])
    answer = recorder.make_handler(lambda: account)(batch, None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["messageId"]}]}
    run = account.ledger.get_run("nightly.20261122T030000Z")
    assert run is not None and run.succeeded == 1
    with pytest.raises(Unavailable):  # a lone record that fails fails its invocation
        recorder.make_handler(lambda: account)(second, None)


HANDLERS = [
    "bridge.lambdas.dispatcher",
    "bridge.lambdas.recorder",
    "bridge.lambdas.sweeper",
    "publishers.lambdas.publisher",
]


def test_handlers_import_with_only_the_standard_library_and_boto3(tmp_path: Path) -> None:
    """As in the Lambda Python runtime: our three packages, boto3 and its own needs."""
    import importlib.util

    root = Path(__file__).parent.parent
    site = tmp_path / "site"
    site.mkdir()
    for package in ("bridge", "publishers", "triggers"):
        (site / package).symlink_to(root / package)
    for dist in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"):
        spec = importlib.util.find_spec(dist)
        assert spec is not None and spec.origin is not None
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (site / source.name).symlink_to(source)
    code = (
        "import sys, importlib\n"
        + "".join(f"importlib.import_module({h!r}).handler\n" for h in HANDLERS)
        + (
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'typer', 'rich', 'moto', 'click'))\n"
            "assert not bad, bad\n"
        )
    )
    done = subprocess.run(
        [
            sys.executable,
            "-S",
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(site)!r})\n{code}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr


def test_in_lambda_each_line_is_logged_once(tmp_path: Path) -> None:
    """Lambda's Python runtime puts its own handler on the root logger."""
    code = (
        "import logging, os, sys\n"
        "logging.getLogger().addHandler(logging.StreamHandler(sys.stdout))\n"
        "os.environ['AWS_LAMBDA_FUNCTION_NAME'] = 'cronbridge-dispatcher'\n"
        "from bridge.logs import configure_logging\n"
        "configure_logging()\n"
        "logging.getLogger('cronbridge.lambda').info('one decision')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PYTHONPATH": str(Path(__file__).parent.parent), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).count("one decision") == 1
