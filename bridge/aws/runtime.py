"""The AWS adapters wired from environment variables, once per Lambda container.

Terraform sets `CRONBRIDGE_STATE_BUCKET`, `CRONBRIDGE_TRIGGER_BUCKET`,
`CRONBRIDGE_LEDGER_TABLE` and `CRONBRIDGE_PUBLISHER_FUNCTION`, and may set
`CRONBRIDGE_EVENT_AGE_SECONDS` (the workers' maximum event age, 6 hours by default) and
`CRONBRIDGE_RECORDING_DELAY_SECONDS` (the results queue's batching window plus its
visibility timeout) and `CRONBRIDGE_PACING_QUEUE` (where a paced run's lanes wait
between wakes), and on the sweeper `CRONBRIDGE_CONSOLE_URL` (where alerts link to a
run: `cronbridge ui`'s address, http://127.0.0.1:8790 by default); boto3 itself reads
`AWS_REGION` and `AWS_ENDPOINT_URL` (and per-service `AWS_ENDPOINT_URL_<SERVICE>`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from bridge.aws.ledger import DynamoLedger
from bridge.aws.registry import S3Registry
from bridge.domain.deadlines import LAMBDA_EVENT_AGE, Timing
from bridge.domain.groups import GroupManifest
from bridge.domain.results import JobResult, JobStatus, parse_envelope
from bridge.exceptions import InvalidInput, InvalidTarget, Unavailable
from bridge.ports import Clock, JobSink, Ledger, PublisherInvoker, Registry, SystemClock
from bridge.usecases.alerts import Senders, SnsSender
from bridge.usecases.record import record_results
from publishers.delivery import (
    AsyncInvoker,
    HttpAnswer,
    HttpSink,
    LambdaPublisherInvoker,
    LambdaSink,
    PayloadStore,
    SqsSink,
    client_config,
)
from publishers.invoke import EventInvokeClient
from publishers.targets import parse_target

__all__ = ["ENVIRONMENT", "AwsRuntime", "AwsSettings"]

#: `cronbridge ui`'s default address; the Terraform module's console_url says the same
DEFAULT_CONSOLE_URL = "http://127.0.0.1:8790"

ENVIRONMENT = {
    "state_bucket": "CRONBRIDGE_STATE_BUCKET",
    "trigger_bucket": "CRONBRIDGE_TRIGGER_BUCKET",
    "ledger_table": "CRONBRIDGE_LEDGER_TABLE",
    "publisher_function": "CRONBRIDGE_PUBLISHER_FUNCTION",
}


@dataclass(frozen=True)
class AwsSettings:
    state_bucket: str
    trigger_bucket: str
    ledger_table: str
    publisher_function: str
    region: str | None = None
    event_age: float = LAMBDA_EVENT_AGE
    recording_delay: float = Timing.recording_delay
    pacing_queue: str | None = None  # a paced lane's next wake waits here
    #: where alerts link to a run: the address `cronbridge ui` serves on
    console_url: str = DEFAULT_CONSOLE_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AwsSettings:
        env = os.environ if env is None else env
        missing = [var for var in ENVIRONMENT.values() if not env.get(var)]
        if missing:
            raise InvalidInput(
                f"the AWS backend needs {', '.join(missing)}",
                hint="run `cronbridge config from-terraform DIR`, or export them",
            )
        values = {name: env[var] for name, var in ENVIRONMENT.items()}
        return cls(
            **values,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            event_age=_seconds(env, "CRONBRIDGE_EVENT_AGE_SECONDS", LAMBDA_EVENT_AGE),
            recording_delay=_seconds(
                env, "CRONBRIDGE_RECORDING_DELAY_SECONDS", Timing.recording_delay
            ),
            pacing_queue=env.get("CRONBRIDGE_PACING_QUEUE") or None,
            console_url=env.get("CRONBRIDGE_CONSOLE_URL") or DEFAULT_CONSOLE_URL,
        )

    @property
    def timing(self) -> Timing:
        return Timing(event_age=self.event_age, recording_delay=self.recording_delay)

    def to_env(self) -> dict[str, str]:
        env = {var: getattr(self, name) for name, var in ENVIRONMENT.items()}
        return {**env, "CRONBRIDGE_CONSOLE_URL": self.console_url}


@dataclass
class AwsRuntime:
    """Clients and adapters for one process. botocore clients are thread-safe."""

    settings: AwsSettings
    clock: Clock = field(default_factory=SystemClock)
    threads: int = 32

    def __post_init__(self) -> None:
        session = boto3.session.Session(region_name=self.settings.region)
        config = client_config(self.threads)
        self.s3 = session.client("s3", config=config)
        self.dynamodb = session.client("dynamodb", config=config)
        self.lambda_client = session.client("lambda", config=config)
        self._session = session
        self._sqs: Any = None
        self.registry: Registry = S3Registry(self.s3, self.settings.state_bucket)
        self.ledger: Ledger = DynamoLedger(self.dynamodb, self.settings.ledger_table)
        # Invokes go out through the lean path; everything else through the full client.
        fast = EventInvokeClient(self.lambda_client, session.get_credentials())
        self.invoker = AsyncInvoker(fast, threads=self.threads)
        self.publishers: PublisherInvoker = LambdaPublisherInvoker(
            self.invoker,
            self.settings.publisher_function,
            pacing=self._pacing_client,
            pacing_queue=self.settings.pacing_queue,
        )
        self.payloads = PayloadStore(self.s3, self.settings.state_bucket)
        # Alerts: webhooks over HTTP, SNS through a client of the topic's region.
        self.alert_senders = Senders(
            sns=SnsSender(lambda region: session.client("sns", region_name=region, config=config))
        )

    def _pacing_client(self) -> Any:
        if self._sqs is None:
            self._sqs = self.client("sqs")
        return self._sqs

    def client(self, service: str) -> Any:
        """A client for any other service, with the same session and retry settings."""
        return self._session.client(service, config=client_config(self.threads))

    def sink_for(self, manifest: GroupManifest) -> JobSink:
        spec = parse_target(manifest.target)
        if spec.kind == "lambda":
            return LambdaSink(self.invoker, spec.address, self.payloads)
        if spec.kind == "sqs":
            if self._sqs is None:
                self._sqs = self.client("sqs")
            return SqsSink(self._sqs, spec.address, self.payloads)
        if spec.kind == "http":
            return HttpSink(
                spec.address,
                self._record_http_results,
                max_attempts=manifest.controls.max_attempts,
                timeout=manifest.controls.timeout,
            )
        raise InvalidTarget(f"target {spec} runs only in the local runtime")

    def _record_http_results(self, answers: Sequence[HttpAnswer]) -> None:
        """An `http:` target's answers are its jobs' results: recorded as one batch."""
        results = [
            JobResult(
                ref=parse_envelope(answer.envelope)[0],
                status=JobStatus.SUCCEEDED if answer.ok else JobStatus.FAILED,
                tries=answer.tries,
                finished_at=datetime.now(UTC),
                error=answer.error,
                duration_ms=answer.duration_ms,
                output=answer.output,
                truncated=answer.truncated,
            )
            for answer in answers
        ]
        report = record_results(results, ledger=self.ledger)
        if report.failed_runs:
            raise Unavailable(f"could not record the results of {len(results)} http job(s)")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a number of seconds, not {value!r}") from None
