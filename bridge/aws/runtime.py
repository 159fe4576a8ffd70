"""The AWS adapters wired from environment variables, once per Lambda container.

Terraform sets `CRONBRIDGE_STATE_BUCKET`, `CRONBRIDGE_TRIGGER_BUCKET`,
`CRONBRIDGE_LEDGER_TABLE` and `CRONBRIDGE_PUBLISHER_FUNCTION`; boto3 itself reads
`AWS_REGION` and `AWS_ENDPOINT_URL` (and per-service `AWS_ENDPOINT_URL_<SERVICE>`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from bridge.aws.ledger import DynamoLedger
from bridge.aws.registry import S3Registry
from bridge.domain.groups import GroupManifest
from bridge.domain.results import JobResult, JobStatus, parse_envelope
from bridge.exceptions import InvalidInput, InvalidTarget
from bridge.ports import Clock, JobSink, Ledger, PublisherInvoker, Registry, SystemClock
from publishers.delivery import (
    AsyncInvoker,
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
        return cls(**values, region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"))

    def to_env(self) -> dict[str, str]:
        return {var: getattr(self, name) for name, var in ENVIRONMENT.items()}


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
            self.invoker, self.settings.publisher_function
        )
        self.payloads = PayloadStore(self.s3, self.settings.state_bucket)

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
                self._record_http_result,
                max_attempts=manifest.controls.max_attempts,
                timeout=manifest.controls.timeout,
            )
        raise InvalidTarget(f"target {spec} runs only in the local runtime")

    def _record_http_result(
        self, envelope: dict[str, Any], ok: bool, error: str, tries: int
    ) -> None:
        ref, _ = parse_envelope(envelope)
        self.ledger.record_result(
            JobResult(
                ref=ref,
                status=JobStatus.SUCCEEDED if ok else JobStatus.FAILED,
                tries=tries,
                finished_at=datetime.now(UTC),
                error=error,
            )
        )
