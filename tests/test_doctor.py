"""`cronbridge doctor` against a deployment built on moto, right and then broken."""

from __future__ import annotations

import collections
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import boto3
import pytest

from bridge.aws.doctor import Deployment, Finding, diagnose, doctor_clients
from bridge.aws.ledger import table_definition
from bridge.domain.controls import Controls
from bridge.local.loopback import LoopbackServer
from bridge.sandbox import Sandbox
from bridge.usecases.register import ListSource, register_group
from tests.aws_world import SETTINGS
from tests.conftest import SUPPORT, numbered_jobs, write_jobs

BUCKET = SETTINGS.trigger_bucket


def user_agent_policy(extra_condition: dict[str, Any] | None = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"StringLike": {"aws:UserAgent": ["*secret-1*", "*secret-2*"]}}
    condition.update(extra_condition or {})
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SchedulerPutsTriggers",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/triggers/*",
                "Condition": condition,
            },
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


@pytest.fixture
def deployment(aws: None) -> Deployment:
    s3 = boto3.client("s3")
    for bucket in (SETTINGS.state_bucket, BUCKET):
        s3.create_bucket(Bucket=bucket)
    s3.put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(user_agent_policy()))
    db = boto3.client("dynamodb")
    db.create_table(**table_definition(SETTINGS.ledger_table))
    db.update_time_to_live(
        TableName=SETTINGS.ledger_table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
    role = boto3.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"][
        "Arn"
    ]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("handler.py", "def handler(e, c):\n    return 1\n")
    lam = boto3.client("lambda")
    sqs = boto3.client("sqs")
    pacing = sqs.create_queue(
        QueueName="cronbridge-pacing", Attributes={"VisibilityTimeout": "960"}
    )
    arns = {}
    for name in ("cronbridge-dispatcher", SETTINGS.publisher_function, "cronbridge-recorder"):
        arns[name] = lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": archive.getvalue()},
            Environment={"Variables": SETTINGS.to_env()},
        )["FunctionArn"]
    arns["worker"] = lam.create_function(
        FunctionName="worker",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": archive.getvalue()},
        Timeout=300,  # a group's default --timeout
    )["FunctionArn"]
    arns["cronbridge-sweeper"] = lam.create_function(
        FunctionName="cronbridge-sweeper",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": archive.getvalue()},
        Environment={"Variables": SETTINGS.to_env()},
    )["FunctionArn"]
    lam.update_function_configuration(FunctionName="cronbridge-recorder", Timeout=60)
    lam.update_function_configuration(
        FunctionName=SETTINGS.publisher_function,
        Timeout=900,
        Environment={
            "Variables": {**SETTINGS.to_env(), "CRONBRIDGE_PACING_QUEUE": pacing["QueueUrl"]}
        },
    )
    lam.create_event_source_mapping(
        EventSourceArn=sqs.get_queue_attributes(
            QueueUrl=pacing["QueueUrl"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"],
        FunctionName=SETTINGS.publisher_function,
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    dlq = sqs.create_queue(QueueName="cronbridge-results-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue = sqs.create_queue(
        QueueName="cronbridge-results",
        Attributes={
            "VisibilityTimeout": "360",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    lam.create_event_source_mapping(
        EventSourceArn=queue_arn,
        FunctionName="cronbridge-recorder",
        BatchSize=1000,
        MaximumBatchingWindowInSeconds=5,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    events = boto3.client("events")
    events.put_rule(Name="cronbridge-sweep", ScheduleExpression="rate(1 minute)")
    events.put_targets(
        Rule="cronbridge-sweep", Targets=[{"Id": "sweeper", "Arn": arns["cronbridge-sweeper"]}]
    )
    lam.put_function_event_invoke_config(
        FunctionName="worker",
        MaximumRetryAttempts=2,
        DestinationConfig={
            "OnSuccess": {"Destination": queue_arn},
            "OnFailure": {"Destination": queue_arn},
        },
    )
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": arns["cronbridge-dispatcher"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "triggers/"}]}},
                }
            ]
        },
    )
    return Deployment(
        SETTINGS,
        "user_agent",
        "cronbridge-dispatcher",
        "cronbridge-recorder",
        {"nightly": ("worker", Controls(max_attempts=3))},
        results_queue=queue,
        sweeper_function="cronbridge-sweeper",
    )


def run(deployment: Deployment, **changes: Any) -> list[Finding]:
    d = Deployment(**{**deployment.__dict__, **changes})
    return diagnose(lambda service: boto3.client(service), d)


def problems(findings: list[Finding]) -> dict[str, str]:
    return {f.subject: f.detail for f in findings if not f.ok}


def test_a_right_deployment_passes_every_check(deployment: Deployment) -> None:
    findings = run(deployment)
    assert problems(findings) == {}
    assert [f.subject for f in findings] == [
        "state bucket",
        "trigger bucket",
        "trigger bucket policy (user_agent)",
        "Block Public Access (bucket)",
        "Block Public Access (account)",
        "trigger bucket notification",
        "publisher function",
        "dispatcher function",
        "recorder function",
        "sweeper function",
        "results queue",
        "pacing queue",
        "worker worker (group nightly)",
        "sweeper schedule",
        "ledger table",
        "runs of an older ledger layout",
    ]


@pytest.mark.parametrize(
    ("breakage", "subject", "words"),
    [
        (
            lambda: boto3.client("s3").delete_bucket_policy(Bucket=BUCKET),
            "trigger bucket policy (user_agent)",
            "no statement lets a scheduler PUT",
        ),
        (
            lambda: boto3.client("s3").put_bucket_policy(
                Bucket=BUCKET,
                Policy=json.dumps(
                    {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": "*",
                                "Action": ["s3:PutObject", "s3:GetObject"],
                                "Resource": f"arn:aws:s3:::{BUCKET}/*",
                            }
                        ]
                    }
                ),
            ),
            "trigger bucket policy (user_agent)",
            "allows s3:PutObject, s3:GetObject",
        ),
        (
            lambda: boto3.client("s3").put_bucket_policy(
                Bucket=BUCKET,
                Policy=json.dumps(
                    {
                        **user_agent_policy(),
                        "Statement": [
                            {
                                **user_agent_policy()["Statement"][0],
                                "Condition": {"StringEquals": {"aws:UserAgent": "secret-1"}},
                            },
                            user_agent_policy()["Statement"][1],
                        ],
                    }
                ),
            ),
            "trigger bucket policy (user_agent)",
            "matches the User-Agent byte for byte",
        ),
        (
            lambda: boto3.client("s3control").put_public_access_block(
                AccountId="123456789012",
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            ),
            "Block Public Access (account)",
            "BlockPublicPolicy, RestrictPublicBuckets is on",
        ),
        (
            lambda: boto3.client("s3").put_bucket_notification_configuration(
                Bucket=BUCKET, NotificationConfiguration={}
            ),
            "trigger bucket notification",
            "no notification starts a Lambda function",
        ),
        (
            lambda: boto3.client("lambda").update_function_configuration(
                FunctionName="cronbridge-recorder", Environment={"Variables": {}}
            ),
            "recorder function",
            "wrong or missing CRONBRIDGE_STATE_BUCKET",
        ),
        (
            lambda: boto3.client("events").disable_rule(Name="cronbridge-sweep"),
            "sweeper schedule",
            "no enabled schedule invokes cronbridge-sweeper",
        ),
        (
            lambda: boto3.client("dynamodb").put_item(
                TableName=SETTINGS.ledger_table,
                Item={  # a run item as the layout before result chunks wrote it
                    "pk": {"S": "run#nightly.20261101T030000Z"},
                    "sk": {"S": "run"},
                    "grp": {"S": "nightly"},
                    "opened_key": {"S": "2026-11-01T03:00:00.000Z#nightly.20261101T030000Z"},
                    "state": {"S": "running"},
                },
            ),
            "runs of an older ledger layout",
            "1 run(s) opened before this version still say running",
        ),
        (
            lambda: boto3.client("dynamodb").update_time_to_live(
                TableName=SETTINGS.ledger_table,
                TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"},
            ),
            "ledger table",
            "no TTL on expires_at",
        ),
    ],
)
def test_each_breakage_is_named_with_a_fix(
    deployment: Deployment, breakage: Callable[[], Any], subject: str, words: str
) -> None:
    breakage()
    found = {f.subject: f for f in run(deployment) if not f.ok}
    assert list(found) == [subject]
    assert words in found[subject].detail
    assert found[subject].fix


def test_iam_mode_wants_no_anonymous_access_and_full_block_public_access(
    deployment: Deployment,
) -> None:
    found = problems(run(deployment, auth_mode="iam"))
    assert found["trigger bucket policy (iam)"] == "iam mode, yet the policy lets anyone in"
    assert (
        "BlockPublicPolicy, RestrictPublicBuckets is off" in found["Block Public Access (bucket)"]
    )


def test_source_ip_mode_wants_the_addresses_in_the_policy(deployment: Deployment) -> None:
    found = problems(run(deployment, auth_mode="source_ip"))
    assert "does not limit the source addresses" in found["trigger bucket policy (source_ip)"]
    boto3.client("s3").put_bucket_policy(
        Bucket=BUCKET,
        Policy=json.dumps(user_agent_policy({"IpAddress": {"aws:SourceIp": ["203.0.113.0/28"]}})),
    )
    assert "trigger bucket policy (source_ip)" not in problems(
        run(deployment, auth_mode="source_ip")
    )


WORKER = "worker worker (group nightly)"


def test_a_worker_whose_results_would_be_lost_is_named(deployment: Deployment) -> None:
    lam = boto3.client("lambda")
    recorder = lam.get_function(FunctionName="cronbridge-recorder")["Configuration"]["FunctionArn"]
    lam.delete_function_event_invoke_config(FunctionName="worker")
    assert "no async invoke configuration" in problems(run(deployment))[WORKER]
    lam.put_function_event_invoke_config(  # the layout before the results queue
        FunctionName="worker",
        MaximumRetryAttempts=2,
        DestinationConfig={
            "OnSuccess": {"Destination": recorder},
            "OnFailure": {"Destination": recorder},
        },
    )
    found = problems(run(deployment))
    assert found == {
        WORKER: "OnSuccess and OnFailure does not go to the results queue: "
        "those results wait for the run's deadline"
    }


def test_the_worker_must_honour_the_groups_controls(deployment: Deployment) -> None:
    found = problems(run(deployment, workers={"nightly": ("worker", Controls(max_attempts=1))}))
    assert found == {
        WORKER: "Lambda retries worker 2 time(s), so a job gets 3 attempt(s), but the "
        "group's --max-attempts is 1"
    }
    strict = Controls(max_attempts=3, timeout=60, max_concurrency=5)
    found = problems(run(deployment, workers={"nightly": ("worker", strict)}))
    assert "worker times out after 5m, but the group's --timeout is 1m" in found[WORKER]
    assert (
        "worker has no reserved concurrency, but the group's --max-concurrency is 5"
        in found[WORKER]
    )
    boto3.client("lambda").put_function_concurrency(
        FunctionName="worker", ReservedConcurrentExecutions=5
    )
    boto3.client("lambda").update_function_configuration(FunctionName="worker", Timeout=60)
    assert WORKER not in problems(run(deployment, workers={"nightly": ("worker", strict)}))


def test_the_results_queue_needs_a_mapping_that_reports_item_failures(
    deployment: Deployment,
) -> None:
    lam = boto3.client("lambda")
    [mapping] = lam.list_event_source_mappings(FunctionName="cronbridge-recorder")[
        "EventSourceMappings"
    ]
    lam.update_event_source_mapping(UUID=mapping["UUID"], FunctionResponseTypes=[])
    assert "does not report batch item failures" in problems(run(deployment))["results queue"]
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    assert "no event source mapping" in problems(run(deployment))["results queue"]
    assert (
        "names no results queue" in problems(run(deployment, results_queue=None))["results queue"]
    )


def test_paced_runs_need_the_pacing_queue_and_its_mapping(deployment: Deployment) -> None:
    lam = boto3.client("lambda")
    [mapping] = lam.list_event_source_mappings(FunctionName=SETTINGS.publisher_function)[
        "EventSourceMappings"
    ]
    lam.update_event_source_mapping(UUID=mapping["UUID"], FunctionResponseTypes=[])
    assert "no enabled mapping" in problems(run(deployment))["pacing queue"]
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    assert "no enabled mapping" in problems(run(deployment))["pacing queue"]
    lam.update_function_configuration(
        FunctionName=SETTINGS.publisher_function, Environment={"Variables": SETTINGS.to_env()}
    )
    found = problems(run(deployment))
    assert list(found) == ["pacing queue"]
    assert "names no pacing queue" in found["pacing queue"]


# -- doctor's own clients, and doctor on the sandbox -------------------------------------


class _Failing(BaseHTTPRequestHandler):
    """Every AWS API answers 500: a service that is down, or a call it does not implement."""

    server: _CountingServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _fail(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.server.lock:  # botocore numbers each try: "attempt=2; max=2"
            self.server.attempts.append(self.headers.get("amz-sdk-request", ""))
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = _fail


class _CountingServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Failing)
        self.lock = threading.Lock()
        self.attempts: list[str] = []


def test_doctor_retries_a_failing_call_once_and_says_it_could_not_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = _CountingServer()
    server.start()
    for name, value in {
        "AWS_ENDPOINT_URL": server.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        findings = diagnose(
            doctor_clients("us-east-1"),
            Deployment(SETTINGS, "iam", "cronbridge-dispatcher", "cronbridge-recorder"),
        )
    finally:
        server.stop()
    tries = collections.Counter(
        part.strip()
        for header in server.attempts
        for part in header.split(";")
        if part.strip().startswith("attempt=")
    )
    assert set(tries) == {"attempt=1", "attempt=2"}, tries  # one try, one retry, no more
    assert tries["attempt=1"] == tries["attempt=2"]
    assert problems(findings)  # and says what it could not check
    assert all(not f.ok for f in findings if f.subject != "results queue")


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setenv("CRONBRIDGE_TEST_EVIDENCE", str(tmp_path))
    monkeypatch.syspath_prepend(str(SUPPORT))
    box = Sandbox({"worker": "sample_workers:note"})
    box.start()
    yield box
    box.stop()


def test_doctor_on_the_sandbox_finds_nothing_wrong_and_says_what_it_skipped(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    jobs = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))
    register_group(
        "nightly",
        "lambda:worker",
        [ListSource.from_path("a", jobs)],
        Controls(),
        registry=sandbox.runtime.registry,
        clock=sandbox.runtime.clock,
        check_target=lambda target, controls: None,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(sandbox.env, COLUMNS="300")
    done = subprocess.run(  # no --auth-mode: `sandbox up`'s exports say it
        [sys.executable, "-m", "bridge", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("│")]
    assert not [row for row in rows if row.startswith("│ NO")], done.stdout
    skipped = {row.split("│")[2].strip() for row in rows if row.startswith("│ skip")}
    assert skipped == {
        "trigger bucket policy",
        "Block Public Access",
        "trigger bucket notification",
        "results queue",
        "pacing queue",
        "sweeper schedule",
    }
    assert "moto does not evaluate bucket policies" in done.stdout
    assert "results go to the results queue; settings match the group's" in done.stdout
    assert "cronbridge-ledger exists, TTL on expires_at" in done.stdout
    assert "9 of 15 checks fine, 6 skipped" in done.stdout
