"""Where the CLI's commands act: this machine (`local`, the default) or an AWS
deployment (`aws`). Commands are the same; only what a Backend holds differs."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from bridge.domain.controls import Controls
from bridge.domain.deadlines import Timing
from bridge.domain.runs import RunState
from bridge.domain.triggers import Trigger, TriggerBody, derive_run_id
from bridge.exceptions import (
    CronbridgeError,
    GroupNotFound,
    InvalidInput,
    InvalidTarget,
    InvalidTrigger,
    Unavailable,
)
from bridge.local.home import Home
from bridge.ports import Ledger, PublisherInvoker, Registry
from triggers.request import TriggerRequest, build_trigger_request, render_curl

__all__ = ["AWS_CONFIG_FILE", "Backend", "TriggerReply", "open_backend", "send_local"]

AWS_CONFIG_FILE = "aws.json"
_FIND_RUN_SECONDS = 60.0


@dataclass(frozen=True)
class TriggerReply:
    decision: str  # "opened" | "duplicate" | "skipped" | "sent" (AWS: S3 says no more)
    run_id: str
    reason: str = ""


@dataclass
class Backend:
    name: str
    registry: Registry
    ledger: Ledger
    check_target: Callable[[str, Controls], None]
    bucket_url: str
    user_agent: str | None
    publishers: Callable[[], PublisherInvoker]
    signed_put: Callable[[TriggerRequest], None] | None = None
    region: str = "us-east-1"
    timing: Timing = field(default_factory=Timing)
    closers: list[Callable[[], None]] = field(default_factory=list)
    #: None if the runtime that moves runs answers, else what to tell the user (local: serve)
    runtime_down: Callable[[], str | None] = lambda: None

    def close(self) -> None:
        for close in self.closers:
            close()

    def trigger_request(
        self, group: str, when: datetime | None, source: str, note: str = ""
    ) -> TriggerRequest:
        return build_trigger_request(
            self.bucket_url,
            group,
            user_agent=self.user_agent or "",
            scheduled_time=when,
            source=source,
            note=note,
        )

    def curl_commands(self, group: str, when: datetime | None) -> list[str]:
        request = self.trigger_request(group, when, "curl")
        commands = []
        if self.user_agent:
            # The local endpoint names the run it opened in a header: -i shows it.
            commands.append(render_curl(request, show_headers=self.name == "local"))
        if self.name == "aws":
            commands.append(render_signed_curl(request, self.region))
        return commands

    def send(
        self,
        group: str,
        when: datetime | None,
        note: str,
        *,
        signed: bool = False,
        source: str = "cli",
    ) -> TriggerReply:
        if self.name == "local":
            return send_local(self.trigger_request(group, when, source, note))
        self.registry.load_manifest(group)  # S3 accepts any key: say "unknown group" here
        # S3 does not say which run a PUT opened; a unique source lets us find it.
        source = f"{source}/{uuid.uuid4().hex[:12]}"
        request = self.trigger_request(group, when, source, note)
        if signed:
            assert self.signed_put is not None
            self.signed_put(request)
        else:
            if not self.user_agent:
                raise InvalidInput(
                    "no User-Agent secret is configured for this deployment",
                    hint="use --signed, or `cronbridge config from-terraform DIR`",
                )
            _put(request)
        return self._find_run(group, source, when)

    def _find_run(self, group: str, source: str, when: datetime | None) -> TriggerReply:
        """The run this PUT opened (or skipped), or the slot's existing run."""
        # A scheduled slot names its run: a run already there means this PUT is a duplicate.
        slot = (
            derive_run_id(Trigger(group, TriggerBody(scheduled_time=when), when, ""))
            if when
            else None
        )
        end = time.monotonic() + _FIND_RUN_SECONDS
        while time.monotonic() < end:
            candidates = [self.ledger.get_run(slot)] if slot else self.ledger.list_runs(group, 20)
            for run in candidates:
                if run is not None and run.state is RunState.MISSED:
                    continue  # the dispatcher has yet to open it, late, or turn it away
                if run is not None and (slot or run.source == source):
                    if run.source != source:
                        return TriggerReply("duplicate", run.run_id, "run exists")
                    decision = "skipped" if run.state is RunState.SKIPPED else "opened"
                    return TriggerReply(decision, run.run_id, run.reason)
            time.sleep(0.5)
        raise Unavailable(
            f"the trigger was accepted, but no run of {group!r} appeared within {_FIND_RUN_SECONDS:g}s",
            hint="see `cronbridge runs list` and the dispatcher's log",
        )


def render_signed_curl(request: TriggerRequest, region: str) -> str:
    """The same PUT signed with your AWS credentials (curl's --aws-sigv4), for `iam` mode."""
    plain = render_curl(request)
    head, _, rest = plain.partition(" -A ")
    rest = rest.split(" ", 1)[1]  # drop the User-Agent value
    return (
        f'{head} --aws-sigv4 "aws:amz:{region}:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY"'
        f' -H "x-amz-security-token: $AWS_SESSION_TOKEN" {rest}'
    )


def open_backend(name: str | None, home: Home) -> Backend:
    chosen = name or os.environ.get("CRONBRIDGE_BACKEND") or "local"
    if chosen == "local":
        return _local_backend(home)
    if chosen == "aws":
        return _aws_backend(home)
    raise InvalidInput(f"backend must be local or aws, not {chosen!r}")


def _local_backend(home: Home) -> Backend:
    from bridge.local.invoke_client import LambdaApiInvoker
    from bridge.local.ledger import SqliteLedger
    from bridge.local.registry import FileRegistry
    from bridge.local.runtime import PUBLISHER_FUNCTION, local_timing
    from bridge.local.target_check import check_target_with_serve

    endpoint = home.endpoint()
    ledger = SqliteLedger(home.ledger_path)
    client = httpx.Client(timeout=10)

    def runtime_down() -> str | None:
        try:
            client.get(endpoint.url, timeout=2)
        except httpx.HTTPError:
            return f"serve is not running at {endpoint.url}; start it with `cronbridge serve`"
        return None

    def check_target(target: str, controls: Controls) -> None:
        # Where it will run: the running serve imports python: targets from its own folder.
        check_target_with_serve(
            target, controls, endpoint=endpoint, secret=home.secret(), client=client, warn=_warn
        )

    def publishers() -> PublisherInvoker:
        try:
            client.get(endpoint.url)
        except httpx.HTTPError:
            raise Unavailable(
                f"no local runtime answers at {endpoint.url}",
                hint="start it with `cronbridge serve`",
            ) from None
        return LambdaApiInvoker(
            endpoint.url, user_agent=home.secret(), function=PUBLISHER_FUNCTION, client=client
        )

    return Backend(
        name="local",
        registry=FileRegistry(home.state_dir),
        ledger=ledger,
        check_target=check_target,
        bucket_url=endpoint.bucket_url,
        user_agent=home.secret(),
        publishers=publishers,
        timing=local_timing(),
        closers=[ledger.close, client.close],
        runtime_down=runtime_down,
    )


def _warn(text: str) -> None:
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True, highlight=False, soft_wrap=True).print(
        Text.assemble(("warning:", "bold yellow"), " ", text)
    )


def aws_config(home: Home) -> dict[str, Any]:
    """What `cronbridge config from-terraform` saved, with the environment on top."""
    path = home.root / AWS_CONFIG_FILE
    try:
        saved: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        saved = {}
    env = {
        k: v
        for k, v in os.environ.items()
        if k.startswith("CRONBRIDGE_") or k in ("AWS_REGION", "AWS_DEFAULT_REGION")
    }
    return {**saved, **env}


def _aws_backend(home: Home) -> Backend:
    from bridge.aws.runtime import AwsRuntime, AwsSettings

    config = aws_config(home)
    settings = AwsSettings.from_env({k: str(v) for k, v in config.items()})
    runtime = AwsRuntime(settings, threads=8)
    region = settings.region or runtime.s3.meta.region_name or "us-east-1"
    # Where schedulers PUT: Terraform's trigger_url output, or the bucket's own address.
    bucket_url = str(
        config.get("CRONBRIDGE_TRIGGER_URL")
        or f"https://{settings.trigger_bucket}.s3.{region}.amazonaws.com"
    ).rstrip("/")

    def signed_put(request: TriggerRequest) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        key = request.url[len(bucket_url) + 1 :]
        try:
            runtime.s3.put_object(
                Bucket=settings.trigger_bucket,
                Key=key,
                Body=request.body,
                ContentType="application/json",
            )
        except ClientError as exc:  # its message names the code, never the signed headers
            error = exc.response.get("Error", {})
            raise Unavailable(
                f"the signed PUT of s3://{settings.trigger_bucket}/{key} failed: "
                f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": "),
                hint="your credentials need s3:PutObject on the trigger bucket's triggers/*; "
                "`cronbridge doctor` checks the deployment",
            ) from None
        except BotoCoreError as exc:
            raise Unavailable(f"the signed PUT could not be sent: {exc}") from None

    def check_target(target: str, controls: Controls) -> None:
        _check_aws_target(runtime, target, controls)

    return Backend(
        name="aws",
        registry=runtime.registry,
        ledger=runtime.ledger,
        check_target=check_target,
        bucket_url=bucket_url,
        user_agent=config.get("CRONBRIDGE_TRIGGER_SECRET") or config.get("user_agent_secret"),
        publishers=lambda: runtime.publishers,
        signed_put=signed_put,
        region=region,
        timing=settings.timing,
        closers=[runtime.invoker.close],
    )


def _check_aws_target(runtime: Any, target: str, controls: Controls) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    from bridge.aws.workers import worker_mismatches
    from publishers.targets import parse_target

    spec = parse_target(target)
    if spec.kind == "lambda":
        try:
            mismatches = worker_mismatches(
                runtime.lambda_client, spec.address, controls, runtime.settings.event_age
            )
        except (ClientError, BotoCoreError) as exc:
            raise InvalidTarget(f"cannot find Lambda function {spec.address}: {exc}") from None
        if mismatches:
            first = mismatches[0]
            more = (
                f" (and {len(mismatches) - 1} more: see `cronbridge doctor`)"
                if len(mismatches) > 1
                else ""
            )
            raise InvalidTarget(
                f"the worker cannot honour the group's controls: {first.what}{more}",
                hint=first.fix,
            )
    if spec.kind == "python":
        raise InvalidTarget(
            f"target {spec} runs only in the local runtime",
            hint="deploy the handler as a Lambda function and use lambda:NAME",
        )
    if spec.kind == "sqs":
        try:
            runtime.client("sqs").get_queue_attributes(
                QueueUrl=spec.address, AttributeNames=["QueueArn"]
            )
        except (ClientError, BotoCoreError) as exc:
            raise InvalidTarget(f"cannot reach queue {spec.address}: {exc}") from None


def _put(request: TriggerRequest) -> None:
    try:
        response = httpx.put(
            request.url, content=request.body, headers=request.all_headers(), timeout=30
        )
    except httpx.HTTPError as exc:
        raise Unavailable(f"cannot reach the trigger bucket at {request.url}: {exc}") from None
    if response.status_code == 403:
        raise CronbridgeError(
            "the trigger bucket denied the PUT: the User-Agent secret does not match its policy",
            hint="check CRONBRIDGE_TRIGGER_SECRET, or use --signed",
        )
    if response.status_code != 200:
        raise Unavailable(f"the trigger bucket answered HTTP {response.status_code}")


def send_local(request: TriggerRequest) -> TriggerReply:
    try:
        response = httpx.put(
            request.url, content=request.body, headers=request.all_headers(), timeout=30
        )
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"cannot reach the trigger endpoint {request.url.split('/triggers/')[0]}: {exc}",
            hint="start the local runtime with `cronbridge serve`",
        ) from None
    if response.status_code == 200:
        return TriggerReply(
            response.headers.get("x-cronbridge-decision", "accepted"),
            response.headers.get("x-cronbridge-run", ""),
            response.headers.get("x-cronbridge-reason", ""),
        )
    message = _s3_message(response.text) or f"HTTP {response.status_code}"
    if response.status_code == 404:
        raise GroupNotFound(message)
    if response.status_code == 403:
        raise CronbridgeError(
            "the trigger endpoint denied access: the User-Agent secret does not match",
            hint="is `cronbridge serve` using the same CRONBRIDGE_HOME?",
        )
    raise InvalidTrigger(message)


def _s3_message(body: str) -> str:
    import html
    import re

    match = re.search(r"<Message>(.*?)</Message>", body, re.DOTALL)
    return html.unescape(match.group(1)) if match else ""
