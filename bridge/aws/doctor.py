"""`cronbridge doctor`: check a deployment and say what is wrong in plain words.

Each check reads the deployment with boto3 and returns findings: what it looked at,
whether it is right, and if not, what to do. Nothing here changes anything.

On the sandbox (`cronbridge sandbox up`), what moto and the sandbox do not model (bucket
policies, Block Public Access, an S3 notification that starts Lambda, event source
mappings, EventBridge schedules) is reported as skipped, with the reason: not a problem.
Doctor's clients retry a failed call once, not ten times: a call the other side does
not implement fails fast, and is reported as a check that could not be made.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bridge.aws.ledger.table import GROUP_INDEX, LAYOUT
from bridge.aws.runtime import ENVIRONMENT, AwsSettings
from bridge.aws.workers import worker_mismatches
from bridge.domain.controls import Controls

__all__ = ["AUTH_MODES", "CLIENT_CONFIG", "Deployment", "Finding", "diagnose", "doctor_clients"]

AUTH_MODES = ("user_agent", "source_ip", "iam")
#: doctor only reads, and says what failed: one retry, short timeouts, no adaptive waits
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=5, read_timeout=20
)
_BPA_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@dataclass(frozen=True)
class Finding:
    subject: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False  # not checked, and `detail` says why; never a problem


def _skipped(subject: str, why: str) -> Finding:
    return Finding(subject, True, f"skipped: {why}", skipped=True)


@dataclass(frozen=True)
class Deployment:
    settings: AwsSettings
    auth_mode: str
    dispatcher_function: str | None
    recorder_function: str | None
    #: group -> its worker function and controls, for groups with lambda: targets
    workers: dict[str, tuple[str, Controls]] = field(default_factory=dict)
    results_queue: str | None = None  # its URL
    sweeper_function: str | None = None
    #: `cronbridge sandbox up`: moto and an emulator, not AWS (CRONBRIDGE_SANDBOX)
    sandbox: bool = False


def doctor_clients(region: str | None = None) -> Callable[[str], Any]:
    """boto3 clients for doctor, one per service, made with CLIENT_CONFIG."""
    session = boto3.session.Session(region_name=region)
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service, config=CLIENT_CONFIG)
        return made[service]

    return client


#: what the sandbox cannot answer: check -> (its subject, why it is skipped there)
_NOT_IN_THE_SANDBOX = {
    "_trigger_policy": (
        "trigger bucket policy",
        "moto does not evaluate bucket policies; the sandbox's trigger endpoint applies the "
        "User-Agent rule itself",
    ),
    "_public_access": ("Block Public Access", "moto does not enforce Block Public Access"),
    "_notification": (
        "trigger bucket notification",
        "moto cannot start Lambda: the sandbox hands S3's events to the dispatcher "
        "through an SQS queue",
    ),
    "_sweeper_schedule": (
        "sweeper schedule",
        "no EventBridge in the sandbox: it invokes the sweeper itself, every second",
    ),
}


def diagnose(clients: Callable[[str], Any], deployment: Deployment) -> list[Finding]:
    """Every finding, in the order a user would fix them."""
    checks: list[Callable[[Callable[[str], Any], Deployment], Iterator[Finding]]] = [
        _buckets,
        _trigger_policy,
        _public_access,
        _notification,
        _functions,
        _results_queue,
        _pacing_queue,
        _workers,
        _sweeper_schedule,
        _table,
        _old_runs,
    ]
    findings: list[Finding] = []
    for check in checks:
        if deployment.sandbox and check.__name__ in _NOT_IN_THE_SANDBOX:
            findings.append(_skipped(*_NOT_IN_THE_SANDBOX[check.__name__]))
            continue
        try:
            findings.extend(check(clients, deployment))
        except (ClientError, BotoCoreError) as exc:
            findings.append(
                Finding(check.__name__.strip("_"), False, f"could not be checked: {exc}")
            )
    return findings


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _buckets(clients: Callable[[str], Any], d: Deployment) -> Iterator[Finding]:
    s3 = clients("s3")
    for role, bucket in (
        ("state bucket", d.settings.state_bucket),
        ("trigger bucket", d.settings.trigger_bucket),
    ):
        try:
            s3.head_bucket(Bucket=bucket)
            yield Finding(role, True, f"{bucket} exists")
        except ClientError as exc:
            yield Finding(
                role,
                False,
                f"{bucket} is missing or not yours ({_code(exc)})",
                "run terraform apply",
            )


def _trigger_policy(clients: Callable[[str], Any], d: Deployment) -> Iterator[Finding]:
    bucket = d.settings.trigger_bucket
    try:
        policy = json.loads(clients("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if _code(exc) != "NoSuchBucketPolicy":
            raise
        policy = {"Statement": []}
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    anonymous = [
        s for s in statements if s.get("Effect") == "Allow" and _is_anyone(s.get("Principal"))
    ]
    subject = f"trigger bucket policy ({d.auth_mode})"
    tls = any(
        s.get("Effect") == "Deny"
        and "false"
        in json.dumps(s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport", ""))
        for s in statements
    )
    if not tls and d.auth_mode != "iam":
        yield Finding(
            subject,
            False,
            "no statement denies requests without TLS",
            "add a Deny on aws:SecureTransport = false",
        )
    if d.auth_mode == "iam":
        if anonymous:
            yield Finding(
                subject,
                False,
                "iam mode, yet the policy lets anyone in",
                "remove the anonymous Allow statement",
            )
        else:
            yield Finding(subject, True, "no anonymous access: signed PUTs only")
        return
    if not anonymous:
        yield Finding(
            subject,
            False,
            "no statement lets a scheduler PUT a trigger",
            "apply the module with this auth_mode",
        )
        return
    problems = []
    for statement in anonymous:
        actions = _as_list(statement.get("Action"))
        resources = _as_list(statement.get("Resource"))
        condition = json.dumps(statement.get("Condition", {}))
        if actions != ["s3:PutObject"]:
            problems.append(f"allows {', '.join(actions)} (only s3:PutObject is needed)")
        if resources != [f"arn:aws:s3:::{bucket}/triggers/*"]:
            problems.append(f"covers {', '.join(resources)} (only {bucket}/triggers/* is needed)")
        if "aws:UserAgent" not in condition:
            problems.append("does not require the User-Agent secret")
        elif "aws:UserAgent" in json.dumps(statement.get("Condition", {}).get("StringEquals", {})):
            problems.append(
                "matches the User-Agent byte for byte (StringEquals), so a scheduler whose "
                "HTTP client adds to it is refused"
            )
        if d.auth_mode == "source_ip" and "aws:SourceIp" not in condition:
            problems.append("does not limit the source addresses")
    if problems:
        yield Finding(
            subject,
            False,
            "the anonymous statement " + "; ".join(problems),
            "apply the module's policy",
        )
    else:
        yield Finding(
            subject, True, "anonymous PUT only on triggers/*, only with the User-Agent secret"
        )


def _public_access(clients: Callable[[str], Any], d: Deployment) -> Iterator[Finding]:
    # A user_agent-only policy is "public" to S3: Block Public Access must let it be.
    needs_public = d.auth_mode == "user_agent"
    bucket_flags = _bucket_bpa(clients("s3"), d.settings.trigger_bucket)
    account = clients("sts").get_caller_identity()["Account"]
    account_flags = _account_bpa(clients("s3control"), account)
    for scope, flags in (("bucket", bucket_flags), ("account", account_flags)):
        subject = f"Block Public Access ({scope})"
        blocking = [
            flag for flag in ("BlockPublicPolicy", "RestrictPublicBuckets") if flags.get(flag)
        ]
        if needs_public and blocking:
            yield Finding(
                subject,
                False,
                f"{', '.join(blocking)} is on, so S3 refuses or ignores the user_agent policy",
                f"turn {' and '.join(blocking)} off at the {scope} level, or use auth_mode source_ip or iam",
            )
        elif not needs_public and not all(flags.get(flag) for flag in _BPA_FLAGS):
            off = [flag for flag in _BPA_FLAGS if not flags.get(flag)]
            yield Finding(
                subject,
                False,
                f"{', '.join(off)} is off, though {d.auth_mode} mode needs no public access",
                "turn every Block Public Access setting on",
            )
        else:
            yield Finding(subject, True, "fits the auth mode")


def _bucket_bpa(s3: Any, bucket: str) -> dict[str, bool]:
    try:
        return dict(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"])
    except ClientError as exc:
        if _code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return {}
        raise


def _account_bpa(s3control: Any, account: str) -> dict[str, bool]:
    try:
        return dict(
            s3control.get_public_access_block(AccountId=account)["PublicAccessBlockConfiguration"]
        )
    except ClientError as exc:
        if _code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return {}
        raise


def _notification(clients: Callable[[str], Any], d: Deployment) -> Iterator[Finding]:
    config = clients("s3").get_bucket_notification_configuration(Bucket=d.settings.trigger_bucket)
    subject = "trigger bucket notification"
    functions = config.get("LambdaFunctionConfigurations", [])
    targets = [c.get("LambdaFunctionArn", "") for c in functions]
    wanted = d.dispatcher_function
    matching = [
        c
        for c in functions
        if wanted and c.get("LambdaFunctionArn", "").split(":function:")[-1].split(":")[0] == wanted
    ]
    if not functions:
        others = [k for k in config if k.endswith("Configurations") and config[k]]
        detail = "no notification starts a Lambda function" + (
            f" (it has {', '.join(others)})" if others else ""
        )
        yield Finding(
            subject, False, detail, "apply the module: it owns the bucket's one notification"
        )
        return
    if wanted and not matching:
        yield Finding(
            subject, False, f"it starts {', '.join(targets)}, not {wanted}", "apply the module"
        )
        return
    for c in matching or functions:
        rules = c.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        prefix = next((r["Value"] for r in rules if r.get("Name", "").lower() == "prefix"), "")
        events = c.get("Events", [])
        if prefix != "triggers/" or not any(e.startswith("s3:ObjectCreated:") for e in events):
            yield Finding(
                subject,
                False,
                f"filter is prefix {prefix!r}, events {events}",
                "notify on s3:ObjectCreated:* with prefix triggers/",
            )
        else:
            yield Finding(
                subject,
                True,
                f"ObjectCreated under triggers/ starts {c['LambdaFunctionArn'].split(':function:')[-1]}",
            )


def _functions(clients: Callable[[str], Any], d: Deployment) -> Iterator[Finding]:
    lam = clients("lambda")
    expected = d.settings.to_env()
    names = [
        ("publisher", d.settings.publisher_function),
        ("dispatcher", d.dispatcher_function),
        ("recorder", d.recorder_function),
        ("sweeper", d.sweeper_function),
    ]
    for role, name in names:
        if not name:
            continue
        subject = f"{role} function"
        try:
            config = lam.get_function_configuration(FunctionName=name)
        except ClientError as exc:
            yield Finding(
                subject, False, f"{name} is missing ({_code(exc)})", "run terraform apply"
            )
            continue
        env = config.get("Environment", {}).get("Variables", {})
        wrong = [var for var in ENVIRONMENT.values() if env.get(var) != expected[var]]
        if wrong:
            yield Finding(
                subject,
                False,
                f"{name}'s environment has wrong or missing {', '.join(wrong)}",
                "apply the module again",
            )
        else:
            yield Finding(subject, True, f"{name} exists with the deployment's environment")


def _queue_arn(clients: Callable[[str], Any], url: str) -> str:
    attributes = clients("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def _results_queue(clients: Callable[[str], Any], d: Deployment) -> Iterator[Finding]:
    """The workers' destinations go to this queue; the recorder must drain it in batches."""
    subject = "results queue"
    if not d.results_queue:
        yield Finding(
            subject,
            False,
            "the deployment names no results queue (a module from before results batching?)",
            "apply this version's module, then `cronbridge config from-terraform DIR` again",
        )
        return
    sqs = clients("sqs")
    try:
        attributes = sqs.get_queue_attributes(QueueUrl=d.results_queue, AttributeNames=["All"])[
            "Attributes"
        ]
    except ClientError as exc:
        yield Finding(
            subject, False, f"{d.results_queue} is missing ({_code(exc)})", "run terraform apply"
        )
        return
    arn = attributes["QueueArn"]
    if d.sandbox:
        yield _skipped(
            subject,
            "it exists; the sandbox drains it into the recorder itself, so there is no "
            "event source mapping or dead-letter queue to check",
        )
        return
    if "RedrivePolicy" not in attributes:
        yield Finding(
            subject,
            False,
            "it has no dead-letter queue: a record that fails every time is retried until it expires",
            "set a redrive policy (the module does)",
        )
        return
    mappings = (
        clients("lambda")
        .list_event_source_mappings(EventSourceArn=arn)
        .get("EventSourceMappings", [])
    )
    recorder = [
        m
        for m in mappings
        if d.recorder_function is None
        or str(m.get("FunctionArn", "")).endswith(f":function:{d.recorder_function}")
    ]
    if not recorder:
        yield Finding(
            subject,
            False,
            "no event source mapping hands its records to the recorder: no result is recorded",
            "create the mapping (the module does) or apply the module again",
        )
        return
    mapping = recorder[0]
    if mapping.get("State") not in ("Enabled", "Enabling", "Creating", "Updating"):
        yield Finding(
            subject, False, f"the recorder's mapping is {mapping.get('State')}", "enable it"
        )
        return
    if "ReportBatchItemFailures" not in mapping.get("FunctionResponseTypes", []):
        yield Finding(
            subject,
            False,
            "the recorder's mapping does not report batch item failures: "
            "one failed run sends a whole batch back",
            'set function_response_types = ["ReportBatchItemFailures"]',
        )
        return
    timeout = int(attributes.get("VisibilityTimeout", 30))
    recorder_timeout = _function_timeout(clients, d.recorder_function)
    if recorder_timeout and timeout < 6 * recorder_timeout:
        yield Finding(
            subject,
            False,
            f"visibility timeout {timeout}s is under six times the recorder's {recorder_timeout}s:"
            " a batch still being recorded is delivered again",
            f"set it to at least {6 * recorder_timeout}s",
        )
        return
    yield Finding(
        subject,
        True,
        f"drained by the recorder in batches of up to {mapping.get('BatchSize')} over "
        f"{mapping.get('MaximumBatchingWindowInSeconds', 0)}s, with a dead-letter queue",
    )


def _pacing_queue(clients: Callable[[str], Any], d: Deployment) -> Iterator[Finding]:
    """A paced run's lanes wait in this queue between wakes; its mapping wakes the
    publisher with them. Without it a lane sleeps inside the publisher instead."""
    subject = "pacing queue"
    publisher = d.settings.publisher_function
    try:
        config = clients("lambda").get_function_configuration(FunctionName=publisher)
    except ClientError:
        return  # the publisher's own check says it is missing
    url = config.get("Environment", {}).get("Variables", {}).get("CRONBRIDGE_PACING_QUEUE")
    fix = "apply this version's module"
    if not url:
        yield Finding(
            subject,
            False,
            f"{publisher} names no pacing queue: a paced run's lanes sleep in Lambda between wakes",
            fix,
        )
        return
    try:
        attributes = clients("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
    except ClientError as exc:
        yield Finding(subject, False, f"{url} is missing ({_code(exc)})", fix)
        return
    if d.sandbox:
        yield _skipped(
            subject,
            f"{publisher} names it and it exists; the sandbox hands its lanes to the "
            "publisher itself, so there is no event source mapping to check",
        )
        return
    mappings = [
        m
        for m in clients("lambda")
        .list_event_source_mappings(EventSourceArn=attributes["QueueArn"])
        .get("EventSourceMappings", [])
        if str(m.get("FunctionArn", "")).endswith(f":function:{publisher}")
        and m.get("State") in ("Enabled", "Enabling", "Creating", "Updating")
        and "ReportBatchItemFailures" in m.get("FunctionResponseTypes", [])
    ]
    if not mappings:
        yield Finding(
            subject,
            False,
            f"no enabled mapping reporting item failures wakes {publisher} with its lanes:"
            " a paced run stops after its first second",
            fix,
        )
        return
    timeout = int(config.get("Timeout", 3))
    if int(attributes.get("VisibilityTimeout", 30)) < timeout:
        yield Finding(
            subject,
            False,
            f"its visibility timeout is under the publisher's {timeout}s: a wake still"
            " running is delivered again",
            f"set it to at least {timeout}s",
        )
        return
    yield Finding(subject, True, f"wakes {publisher} with paced runs' lanes")


def _function_timeout(clients: Callable[[str], Any], name: str | None) -> int | None:
    if not name:
        return None
    try:
        config = clients("lambda").get_function_configuration(FunctionName=name)
    except ClientError:
        return None
    return int(config.get("Timeout", 3))


def _workers(clients: Callable[[str], Any], d: Deployment) -> Iterator[Finding]:
    """Each worker function must send its results, success and failure, to the results queue."""
    lam = clients("lambda")
    queue_arn = _queue_arn(clients, d.results_queue) if d.results_queue else None
    for group, (function, controls) in sorted(d.workers.items()):
        subject = f"worker {function} (group {group})"
        try:
            config = lam.get_function_event_invoke_config(FunctionName=function)
        except ClientError as exc:
            yield Finding(
                subject,
                False,
                f"no async invoke configuration ({_code(exc)}): results never reach the ledger",
                "set its destinations on success and on failure to the results queue",
            )
            continue
        destinations = config.get("DestinationConfig", {})
        targets = {
            when: destinations.get(when, {}).get("Destination", "")
            for when in ("OnSuccess", "OnFailure")
        }
        if queue_arn:
            wrong = [w for w, arn in targets.items() if arn != queue_arn]
        else:  # the queue is unknown: at least each result must go to some queue
            wrong = [w for w, arn in targets.items() if ":sqs:" not in arn]
        if wrong:
            yield Finding(
                subject,
                False,
                f"{' and '.join(wrong)} does not go to the results queue: "
                "those results wait for the run's deadline",
                "set the destination to the results queue (the module's results_queue_arn)",
            )
            continue
        mismatches = worker_mismatches(lam, function, controls, d.settings.event_age)
        if mismatches:
            yield Finding(
                subject,
                False,
                "; ".join(m.what for m in mismatches),
                "; ".join(m.fix for m in mismatches),
            )
        else:
            yield Finding(
                subject,
                True,
                "results go to the results queue; settings match the group's",
            )


def _sweeper_schedule(clients: Callable[[str], Any], d: Deployment) -> Iterator[Finding]:
    """Something must invoke the sweeper, or a run whose results were lost never ends."""
    subject = "sweeper schedule"
    if not d.sweeper_function:
        yield Finding(
            subject,
            False,
            "the deployment names no sweeper: runs past their deadline are never ended",
            "apply this version's module, then `cronbridge config from-terraform DIR` again",
        )
        return
    try:
        config = clients("lambda").get_function_configuration(FunctionName=d.sweeper_function)
    except ClientError:
        return  # the function check already says it is missing
    arn = config.get("FunctionArn", "")
    events = clients("events")
    names = events.list_rule_names_by_target(TargetArn=arn).get("RuleNames", [])
    rules = [events.describe_rule(Name=name) for name in names]
    live = [r for r in rules if r.get("State") == "ENABLED" and r.get("ScheduleExpression")]
    if live:
        yield Finding(subject, True, f"{d.sweeper_function} runs {live[0]['ScheduleExpression']}")
    else:
        yield Finding(
            subject,
            False,
            f"no enabled schedule invokes {d.sweeper_function}: runs past their deadline never end",
            "apply the module again (it schedules the sweeper every minute)",
        )


def _old_runs(clients: Callable[[str], Any], d: Deployment) -> Iterator[Finding]:
    """Runs of the ledger layout before result chunks cannot end by themselves."""
    db = clients("dynamodb")
    old: list[str] = []
    for page in db.get_paginator("scan").paginate(
        TableName=d.settings.ledger_table,
        IndexName=GROUP_INDEX,
        FilterExpression="#state = :running AND (attribute_not_exists(layout) OR layout < :layout)",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={":running": {"S": "running"}, ":layout": {"N": str(LAYOUT)}},
        ProjectionExpression="pk",
    ):
        old += [item["pk"]["S"].removeprefix("run#") for item in page.get("Items", [])]
    if old:
        shown = ", ".join(sorted(old)[:5]) + (" ..." if len(old) > 5 else "")
        yield Finding(
            "runs of an older ledger layout",
            False,
            f"{len(old)} run(s) opened before this version still say running and cannot end: {shown}",
            "end each with `cronbridge runs cancel RUN` (see the README, Upgrading)",
        )
    else:
        yield Finding("runs of an older ledger layout", True, "none is running")


def _table(clients: Callable[[str], Any], d: Deployment) -> Iterator[Finding]:
    db = clients("dynamodb")
    table = d.settings.ledger_table
    try:
        db.describe_table(TableName=table)
    except ClientError as exc:
        yield Finding(
            "ledger table", False, f"{table} is missing ({_code(exc)})", "run terraform apply"
        )
        return
    ttl = db.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if (
        ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
        and ttl.get("AttributeName") == "expires_at"
    ):
        yield Finding("ledger table", True, f"{table} exists, TTL on expires_at")
    else:
        yield Finding(
            "ledger table",
            False,
            f"{table} has no TTL on expires_at: old runs are never removed",
            "enable TTL on expires_at",
        )


def _is_anyone(principal: Any) -> bool:
    return principal == "*" or (
        isinstance(principal, dict) and "*" in _as_list(principal.get("AWS"))
    )


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
