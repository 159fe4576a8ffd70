"""The AWS sandbox: the whole AWS code path on loopback, in one process.

- a moto server (S3, DynamoDB, SQS) for every AWS API but Lambda's;
- a Lambda Invoke API emulator (`bridge.local.lambda_api`) running the dispatcher,
  publisher and recorder handlers and the named worker functions in-process, with
  Lambda's async retries and destinations; boto3 reaches it through
  `AWS_ENDPOINT_URL_LAMBDA`;
- S3 event delivery: moto cannot call Lambda, so the trigger bucket notifies an SQS
  queue, which a thread drains into the dispatcher.
- the results path as deployed: workers' destinations send each record to the results
  queue (moto's SQS), and an event source mapping (`bridge.local.queue.BatchPoller`)
  hands the recorder batches of them; a schedule invokes the sweeper.

- the trigger bucket's endpoint for schedulers (`CRONBRIDGE_TRIGGER_URL`): it applies
  the bucket policy's User-Agent rule, which moto does not evaluate, then writes the
  object into moto's S3.
- on request (`record_calls=True`), a record of every AWS call each function's role
  makes (`Sandbox.calls`), for checking against the roles Terraform renders.

Resources carry the names, keys and environment a Terraform deployment uses. What it
cannot show: policies as AWS evaluates them (a PUT made straight to moto's S3 is not
checked at all), and concurrency on DynamoDB, whose `UpdateItem` moto does not make
atomic under concurrent threads, so the emulator runs one invocation at a time.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import boto3

from bridge.aws.ledger import table_definition
from bridge.aws.runtime import AwsRuntime, AwsSettings
from bridge.domain.triggers import carries_secret
from bridge.exceptions import Unavailable
from bridge.lambdas import dispatcher, recorder, sweeper
from bridge.local.lambda_api import LambdaApiServer
from bridge.local.lambda_service import FunctionConfig, Handler, LocalLambda, Throttled
from bridge.local.loopback import REQUEST_TIMEOUT, LoopbackServer, S3Handler
from bridge.local.queue import BatchPoller, MessageQueue, QueueMessage, ResultDestination, SqsQueue
from bridge.local.sigv4 import ALGORITHM as SIGV4_ALGORITHM
from bridge.local.sigv4 import SignatureProblem, check_signature
from bridge.ports import SystemClock
from publishers.delivery import AsyncInvoker
from publishers.lambdas import publisher
from publishers.targets import TargetSpec, load_python_handler

__all__ = ["Call", "CallRecorder", "DeploymentNames", "Sandbox", "TriggerBucketEndpoint"]

REGION = "us-east-1"


@dataclass(frozen=True)
class DeploymentNames:
    """The names of a deployment's resources, from its prefix (as Terraform names them)."""

    prefix: str = "cronbridge"

    @property
    def trigger_bucket(self) -> str:
        return f"{self.prefix}-triggers"

    @property
    def state_bucket(self) -> str:
        return f"{self.prefix}-state"

    @property
    def ledger_table(self) -> str:
        return f"{self.prefix}-ledger"

    @property
    def dispatcher(self) -> str:
        return f"{self.prefix}-dispatcher"

    @property
    def publisher(self) -> str:
        return f"{self.prefix}-publisher"

    @property
    def recorder(self) -> str:
        return f"{self.prefix}-recorder"

    @property
    def sweeper(self) -> str:
        return f"{self.prefix}-sweeper"

    @property
    def events_queue(self) -> str:
        return f"{self.prefix}-trigger-events"

    @property
    def results_queue(self) -> str:
        return f"{self.prefix}-results"

    @property
    def pacing_queue(self) -> str:
        return f"{self.prefix}-pacing"

    def settings(self) -> AwsSettings:
        return AwsSettings(
            state_bucket=self.state_bucket,
            trigger_bucket=self.trigger_bucket,
            ledger_table=self.ledger_table,
            publisher_function=self.publisher,
            region=REGION,
        )


class TriggerBucketEndpoint(LoopbackServer):
    """The trigger bucket as a scheduler meets it: its policy (which moto does not
    evaluate), in front of moto's S3, where the object is then written.

    `PUT /<bucket>/triggers/...` is stored (200) when it carries the secret User-Agent,
    or is signed (SigV4) with the sandbox's credentials, as the bucket admits a signed
    PUT from a principal allowed to write triggers; anything else gets S3's 403 or 405,
    as the real bucket would answer. Hostile requests are refused as by the local
    endpoint (`bridge.local.loopback.S3Handler`).
    """

    request_queue_size = 512

    def __init__(
        self,
        s3: Any,
        bucket: str,
        secret: str,
        *,
        credentials: tuple[str, str] | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        super().__init__(_TriggerPut, request_timeout=request_timeout)
        self.s3 = s3
        self.bucket = bucket
        self._secret = secret
        self._credentials = credentials

    def admits(self, user_agent: str) -> bool:
        return carries_secret(user_agent, self._secret)

    def signature_problem(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> SignatureProblem | None:
        if self._credentials is None:
            return SignatureProblem("AccessDenied", "Access Denied")
        access_key, secret_key = self._credentials
        return check_signature(
            method,
            target,
            headers,
            body,
            access_key=access_key,
            secret_key=secret_key,
            now=datetime.now(UTC),
        )


#: the largest trigger body the sandbox's bucket stores (S3 takes far more; the
#: dispatcher refuses anything over 4 KiB anyway)
_SANDBOX_BODY_LIMIT = 1024 * 1024


class _TriggerPut(S3Handler):
    server: TriggerBucketEndpoint

    def do_PUT(self) -> None:
        key = self.object_key(self.server.bucket)
        if key is None:
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        signed = headers.get("authorization", "").startswith(SIGV4_ALGORITHM)
        if not signed and not self.server.admits(headers.get("user-agent", "")):
            self.send_s3_error(HTTPStatus.FORBIDDEN, "AccessDenied", "Access Denied")
            return
        if not key.startswith("triggers/"):
            self.send_s3_error(HTTPStatus.FORBIDDEN, "AccessDenied", "Access Denied")
            return
        body = self.read_body(_SANDBOX_BODY_LIMIT)
        if body is None:
            return
        if signed:
            problem = self.server.signature_problem(self.command, self.target, headers, body)
            if problem is not None:
                self.send_s3_error(HTTPStatus.FORBIDDEN, problem.code, problem.message)
                return
        response = self.server.s3.put_object(Bucket=self.server.bucket, Key=key, Body=body)
        self.send_answer(HTTPStatus.OK, b"", "application/xml", {"ETag": response["ETag"]})


@dataclass(frozen=True)
class Call:
    """One AWS call made with a function's execution role: by the function's code, or by
    Lambda on its behalf (a worker's destination record; the results queue's event
    source mapping, which polls with the recorder's role)."""

    function: str  # the function whose role makes the call
    service: str  # botocore's service id: "s3", "dynamodb", "sqs", "lambda"
    operation: str  # the API operation: "PutItem", "Invoke", ...
    params: Mapping[str, Any]  # its parameters, as the caller passed them
    error: str | None = None  # the error code AWS answered with, if it did ("NoSuchKey")


#: which recorder, for which function, the calls of this thread (or task) belong to
_ACTING: ContextVar[tuple[CallRecorder, str] | None] = ContextVar("cronbridge_acting", default=None)


class CallRecorder:
    """Records the AWS calls made while a function acts (`acting_as`): every botocore
    client it watches, and the publisher's lean invokes, which botocore never sees. A
    call made outside any function (the CLI's, the sandbox's own) is not recorded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._hook = f"cronbridge-call-recorder-{id(self)}"

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    @contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        token = _ACTING.set((self, function))
        try:
            yield
        finally:
            _ACTING.reset(token)

    def record(self, service: str, operation: str, params: Mapping[str, Any]) -> int | None:
        """Record the call if a function of this recorder's is acting; its index."""
        acting = _ACTING.get()
        if acting is None or acting[0] is not self:
            return None
        with self._lock:
            self._calls.append(Call(acting[1], service, operation, dict(params)))
            return len(self._calls) - 1

    def watch(self, events: Any) -> None:
        """Watch the clients of a botocore event emitter: a client's (`client.meta.events`),
        or a session's, for the clients it creates from then on."""
        # A unique id names one handler of an emitter, whatever its event: one each.
        events.register("before-parameter-build", self._before_call, unique_id=self._hook)
        events.register("after-call", self._after_call, unique_id=f"{self._hook}-after")

    def unwatch(self, events: Any) -> None:
        events.unregister("before-parameter-build", unique_id=self._hook)
        events.unregister("after-call", unique_id=f"{self._hook}-after")

    def watch_invokes(self, invoker: AsyncInvoker) -> None:
        """Record each async invoke as it is handed over, in the caller's context (the
        invoker's lean client has no botocore events, and runs in a pool of its own)."""
        invoke_all = invoker.invoke_all

        def recorded(function: str, payloads: Sequence[bytes]) -> None:
            for _ in payloads:
                self.record(
                    "lambda", "Invoke", {"FunctionName": function, "InvocationType": "Event"}
                )
            invoke_all(function, payloads)

        invoker.invoke_all = recorded  # type: ignore[method-assign]

    def act(self, function: str, handler: Handler) -> Handler:
        """`handler`, acting as `function` while it runs."""

        def run(event: Any, context: Any) -> Any:
            with self.acting_as(function):
                return handler(event, context)

        return run

    def _before_call(
        self, params: Mapping[str, Any], model: Any, context: Any = None, **_: Any
    ) -> None:
        index = self.record(model.service_model.service_id.hyphenize(), model.name, params)
        if index is not None and isinstance(context, dict):
            context[self._hook] = index  # the same dict reaches after-call

    def _after_call(self, parsed: Any, context: Any = None, **_: Any) -> None:
        index = context.get(self._hook) if isinstance(context, dict) else None
        error = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        if index is not None and error:
            with self._lock:
                self._calls[index] = replace(self._calls[index], error=str(error))


class _QueueActing:
    """A queue used with a function's role: the results queue as the recorder's event
    source mapping polls it."""

    def __init__(self, queue: MessageQueue, recorder: CallRecorder, function: str) -> None:
        self.queue = queue
        self.arn = queue.arn
        self._recorder = recorder
        self._function = function

    def send(self, body: str) -> None:
        with self._recorder.acting_as(self._function):
            self.queue.send(body)

    def receive(self, max_messages: int, wait: float) -> list[QueueMessage]:
        with self._recorder.acting_as(self._function):
            return self.queue.receive(max_messages, wait)

    def delete(self, receipts: Sequence[str]) -> None:
        with self._recorder.acting_as(self._function):
            self.queue.delete(receipts)

    def empty(self) -> bool:
        with self._recorder.acting_as(self._function):
            return self.queue.empty()


class _DestinationActing:
    """A worker's destination, delivered with the worker's role, as Lambda delivers it."""

    def __init__(
        self, destination: ResultDestination, recorder: CallRecorder, function: str
    ) -> None:
        self.queue = destination.queue  # the Lambda API emulator reports its ARN
        self._destination = destination
        self._recorder = recorder
        self._function = function

    def __call__(self, record: dict[str, Any]) -> None:
        with self._recorder.acting_as(self._function):
            self._destination(record)


class Sandbox:
    """Start with `start()`: it returns the environment that points boto3 and the CLI
    at the sandbox, and sets it in this process (the handlers read it)."""

    def __init__(
        self,
        functions: Mapping[str, str],
        *,
        names: DeploymentNames | None = None,
        throttle: float = 0.0,
        retry_delay: float = 0.05,
        max_attempts: int = 3,
        service: Callable[..., LocalLambda] = LocalLambda,
        results_batch: int = 1000,
        results_window: float = 1.0,
        results_visibility: int = 30,
        sweep_every: float = 1.0,
        event_age: float | None = None,
        recording: Path | None = None,
        worker_timeout: float = 300.0,
        record_calls: bool = False,
    ) -> None:
        """`service` makes the Lambda stand-in (a fault-injecting one, in tests).
        `recording`: moto records every request it receives into this file.
        `record_calls`: keep every AWS call each function's role makes (`calls`)."""
        self.names = names or DeploymentNames()
        self._service = service
        self._functions = dict(functions)
        self._throttle = throttle
        self._retry_delay = retry_delay
        self._max_attempts = max_attempts
        self._results_batch = results_batch
        self._results_window = results_window
        self._results_visibility = results_visibility
        self._sweep_every = sweep_every
        self._event_age = event_age
        self._recording = recording
        self._worker_timeout = worker_timeout  # a group's default --timeout
        self._recorder = CallRecorder() if record_calls else None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.env: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            raise Unavailable(
                "the sandbox needs moto's server", hint="pip install 'cronbridge[sandbox]'"
            ) from None
        handlers = {
            name: load_python_handler(TargetSpec("python", spec))
            for name, spec in self._functions.items()
        }
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        # moto's state lives in this process: start from an empty account every time.
        self._moto_api(host, port, "reset")
        if self._recording is not None:
            from moto.moto_api import recorder as moto_recorder

            moto_recorder._location = str(self._recording)  # moto reads no other setting
            self._moto_api(host, port, "recorder/reset-recording")
            self._moto_api(host, port, "recorder/start-recording")
        # One invocation at a time: moto's DynamoDB UpdateItem is not thread-atomic.
        self.lambdas = self._service(
            clock=SystemClock(), workers=1, retry_delay=self._retry_delay, serial=True
        )
        self.api = LambdaApiServer(self.lambdas, throttle=self._throttle)
        self.api.start()
        self.env = {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ENDPOINT_URL_LAMBDA": self.api.url,
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "CRONBRIDGE_BACKEND": "aws",
            # What `cronbridge doctor` reads: the bucket's rule, and that this is a sandbox.
            "CRONBRIDGE_AUTH_MODE": "user_agent",
            "CRONBRIDGE_SANDBOX": "1",
            "CRONBRIDGE_DISPATCHER_FUNCTION": self.names.dispatcher,
            "CRONBRIDGE_RECORDER_FUNCTION": self.names.recorder,
            "CRONBRIDGE_SWEEPER_FUNCTION": self.names.sweeper,
            "CRONBRIDGE_RECORDING_DELAY_SECONDS": str(
                self._results_window + self._results_visibility
            ),
            **self.names.settings().to_env(),
        }
        if self._event_age is not None:
            self.env["CRONBRIDGE_EVENT_AGE_SECONDS"] = str(self._event_age)
        os.environ.update(self.env)
        if self._recorder is not None:
            # Before any client of the default session exists: the worker helper makes
            # its own with boto3.client(...), as do the results queue and destinations.
            if boto3.DEFAULT_SESSION is None:
                boto3.setup_default_session()
            self._recorder.watch(boto3.DEFAULT_SESSION.events)
        self._create_resources()
        secret = "sandbox-" + secrets.token_urlsafe(12)
        self.trigger_endpoint = TriggerBucketEndpoint(
            boto3.client("s3"),
            self.names.trigger_bucket,
            secret,
            credentials=(self.env["AWS_ACCESS_KEY_ID"], self.env["AWS_SECRET_ACCESS_KEY"]),
        )
        serve = threading.Thread(
            target=self.trigger_endpoint.serve_forever, name="trigger-endpoint", daemon=True
        )
        serve.start()
        self.env["CRONBRIDGE_TRIGGER_URL"] = (
            f"{self.trigger_endpoint.url}/{self.names.trigger_bucket}"
        )
        self.env["CRONBRIDGE_TRIGGER_SECRET"] = secret
        os.environ.update(self.env)
        self.env["CRONBRIDGE_RESULTS_QUEUE"] = self._results_url
        self.env["CRONBRIDGE_PACING_QUEUE"] = self._pacing_url
        os.environ.update(self.env)
        self.runtime = AwsRuntime(AwsSettings.from_env())
        if self._recorder is not None:
            for client in (self.runtime.s3, self.runtime.dynamodb, self.runtime.lambda_client):
                self._recorder.watch(client.meta.events)
            self._recorder.watch(self.runtime._session.events)  # clients made later (sqs)
            self._recorder.watch_invokes(self.runtime.invoker)
        self.api.environment = {
            **self.names.settings().to_env(),
            "CRONBRIDGE_PACING_QUEUE": self._pacing_url,  # as the module sets the publisher's
        }
        self.results = SqsQueue(boto3.client("sqs"), self._results_url)
        self.destination = ResultDestination(self.results)
        self._define_functions(handlers)
        # The event source mapping polls with the recorder's role.
        polled: MessageQueue = (
            self.results
            if self._recorder is None
            else _QueueActing(self.results, self._recorder, self.names.recorder)
        )
        self.poller = BatchPoller(
            polled,
            self._invoke_recorder,
            batch_size=self._results_batch,
            window=self._results_window,
            poll_wait=0.2,
        )
        self.poller.start()
        # The pacing queue's mapping: paced lanes, up to 10 a batch, into the publisher.
        self.pacing = SqsQueue(boto3.client("sqs"), self._pacing_url)
        self.pacing_poller = BatchPoller(
            self.pacing
            if self._recorder is None
            else _QueueActing(self.pacing, self._recorder, self.names.publisher),
            self._invoke_publisher,
            batch_size=10,
            window=0.0,
            poll_wait=0.2,
            name="pacing",
        )
        self.pacing_poller.start()
        for target, name in ((self._drain_events, "s3-events"), (self._sweep, "sweeper")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return dict(self.env)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.poller.stop()
        self.pacing_poller.stop()
        self.lambdas.close()
        self.api.stop()
        self.trigger_endpoint.stop()
        self.runtime.invoker.close()
        self.moto.stop()
        if self._recorder is not None and boto3.DEFAULT_SESSION is not None:
            self._recorder.unwatch(boto3.DEFAULT_SESSION.events)

    @property
    def calls(self) -> list[Call]:
        """Every AWS call made with a function's role since `start()`, in order (needs
        `record_calls`): the functions' own, their destinations' and the results poller's."""
        assert self._recorder is not None, "start the sandbox with record_calls=True"
        return self._recorder.calls

    def wait_idle(self, timeout: float) -> bool:
        """Until nothing is queued or running and every result is recorded."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.lambdas.wait_idle(max(0.0, end - time.monotonic())):
                return False
            if (
                self.pacing.empty()
                and not self.pacing_poller.busy
                and self.results.empty()
                and not self.poller.busy
                and self.lambdas.wait_idle(0)
            ):
                return True
            time.sleep(0.05)
        return False

    def recorded_requests(self) -> list[dict[str, Any]]:
        """Every request moto received since start (needs `recording`), in order."""
        assert self._recording is not None, "start the sandbox with recording=PATH"
        with self._recording.open() as lines:
            return [json.loads(line) for line in lines if line.strip()]

    def _moto_api(self, host: str, port: int, path: str) -> None:
        request = urllib.request.Request(f"http://{host}:{port}/moto-api/{path}", method="POST")
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own loopback server
            pass

    def _invoke_recorder(self, event: dict[str, Any]) -> Any:
        """The event source mapping's synchronous invoke of the recorder."""
        ok, response = self.lambdas.invoke_sync(self.names.recorder, event)
        if not ok:
            raise RuntimeError(f"recorder failed: {response}")
        return response

    def _invoke_publisher(self, event: dict[str, Any]) -> Any:
        """The pacing queue's event source mapping: a synchronous invoke with its lanes."""
        ok, response = self.lambdas.invoke_sync(self.names.publisher, event)
        if not ok:
            raise RuntimeError(f"publisher failed: {response}")
        return response

    def _sweep(self) -> None:
        """The schedule that invokes the sweeper (every minute on AWS; faster here)."""
        while not self._stop.wait(self._sweep_every):
            ok, response = self.lambdas.invoke_sync(self.names.sweeper, {})
            if not ok:
                logging.getLogger("cronbridge.sandbox").warning(
                    "sweeper failed", extra={"error": response}
                )

    def _create_resources(self) -> None:
        s3 = boto3.client("s3")
        for bucket in (self.names.trigger_bucket, self.names.state_bucket):
            s3.create_bucket(Bucket=bucket)
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(**table_definition(self.names.ledger_table))
        dynamodb.update_time_to_live(  # as the module does (moto keeps expired items)
            TableName=self.names.ledger_table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
        sqs = boto3.client("sqs")
        self._queue_url = sqs.create_queue(QueueName=self.names.events_queue)["QueueUrl"]
        # The results queue: a failed recorder batch comes back after the visibility
        # timeout (six times the recorder's timeout on AWS; shorter here).
        self._results_url = sqs.create_queue(
            QueueName=self.names.results_queue,
            Attributes={"VisibilityTimeout": str(self._results_visibility)},
        )["QueueUrl"]
        # Paced lanes wait here between wakes (terraform/modules/aws/pacing.tf).
        self._pacing_url = sqs.create_queue(
            QueueName=self.names.pacing_queue,
            Attributes={"VisibilityTimeout": str(self._results_visibility)},
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket=self.names.trigger_bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "Id": "cronbridge-dispatcher",
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {"FilterRules": [{"Name": "prefix", "Value": "triggers/"}]}
                        },
                    }
                ]
            },
        )

    def _define_functions(self, workers: Mapping[str, Any]) -> None:
        runtime = self.runtime
        core = {
            self.names.dispatcher: dispatcher.make_handler(lambda: runtime),
            self.names.publisher: publisher.make_handler(lambda: runtime),
            self.names.recorder: recorder.make_handler(lambda: runtime),
            self.names.sweeper: sweeper.make_handler(lambda: runtime),
        }
        for name, handler in core.items():
            self.lambdas.define(FunctionConfig(name, self._acting(name, handler)))
        for name, handler in workers.items():
            destination: Callable[[dict[str, Any]], None] = self.destination
            if self._recorder is not None:
                destination = _DestinationActing(self.destination, self._recorder, name)
            self.lambdas.define(
                FunctionConfig(
                    name,
                    self._acting(name, handler),
                    max_attempts=self._max_attempts,
                    timeout=self._worker_timeout,
                    destination=destination,
                    max_event_age=self.runtime.settings.event_age,
                )
            )

    def _acting(self, function: str, handler: Handler) -> Handler:
        return handler if self._recorder is None else self._recorder.act(function, handler)

    def _drain_events(self) -> None:
        sqs = boto3.client("sqs")
        while not self._stop.is_set():
            response = sqs.receive_message(
                QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in response.get("Messages", []):
                try:
                    self.lambdas.invoke_async(self.names.dispatcher, json.loads(message["Body"]))
                except Throttled:  # S3 retries a refused event: put it back for the next poll
                    sqs.change_message_visibility(
                        QueueUrl=self._queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=0,
                    )
                    continue
                sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
