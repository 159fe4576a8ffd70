"""Lambda's Invoke API over HTTP, in front of the local Lambda service.

`POST /2015-03-31/functions/<name>/invocations` with `X-Amz-Invocation-Type: Event`
(202, queued) or `RequestResponse` (200, run now; `X-Amz-Function-Error` on failure),
answers and error types as Lambda gives them, so boto3 (through
`AWS_ENDPOINT_URL_LAMBDA`) and the CLI talk to it unchanged. It can also refuse a
share of invokes with 429 `TooManyRequestsException`, to show that callers back off
and lose nothing.
"""

from __future__ import annotations

import json
import random
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from bridge.exceptions import NotFound
from bridge.local.lambda_service import LocalLambda, Throttled
from bridge.local.loopback import LoopbackServer

__all__ = ["INVOKE_PREFIX", "LambdaApiServer", "answer_invoke"]

INVOKE_PREFIX = "/2015-03-31/functions/"
_SUFFIX = "/invocations"
_MAX_PAYLOAD = 6 * 1024 * 1024  # a synchronous invocation's limit
_EVENT_CONFIG_PREFIX = "/2019-09-25/functions/"
_EVENT_CONFIG_SUFFIX = "/event-invoke-config"
_CONCURRENCY_PREFIX = "/2019-09-30/functions/"
_CONCURRENCY_SUFFIX = "/concurrency"
_ARN_PREFIX = "arn:aws:lambda:local:000000000000:function:"


def function_name(path: str) -> str | None:
    """The function an Invoke API path names, or None if it is not one."""
    path = urlsplit(path).path
    if not (path.startswith(INVOKE_PREFIX) and path.endswith(_SUFFIX)):
        return None
    name = unquote(path[len(INVOKE_PREFIX) : -len(_SUFFIX)])
    return name.rsplit(":function:", 1)[-1]  # an ARN works as well as a name


def answer_invoke(
    request: BaseHTTPRequestHandler, lambdas: LocalLambda, name: str, *, async_only: bool = False
) -> None:
    """Read the request's payload, invoke, and write Lambda's answer."""
    kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
    if kind not in ("Event", "RequestResponse") or (async_only and kind != "Event"):
        _error(
            request,
            HTTPStatus.BAD_REQUEST,
            "InvalidParameterValueException",
            f"InvocationType {kind} is not supported here",
        )
        return
    length = int(request.headers.get("Content-Length") or 0)
    if length > _MAX_PAYLOAD:
        request.close_connection = True
        _error(
            request,
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            "RequestTooLargeException",
            "Request must be smaller than 6291456 bytes",
        )
        return
    try:
        event = json.loads(request.rfile.read(length) or b"{}")
    except ValueError:
        _error(
            request,
            HTTPStatus.BAD_REQUEST,
            "InvalidRequestContentException",
            "Could not parse request body into json",
        )
        return
    try:
        if kind == "Event":
            request_id = lambdas.invoke_async(name, event)
            _send(request, HTTPStatus.ACCEPTED, b"", {"x-amzn-RequestId": request_id})
            return
        ok, response = lambdas.invoke_sync(name, event)
    except NotFound as exc:
        _error(request, HTTPStatus.NOT_FOUND, "ResourceNotFoundException", exc.message)
        return
    except Throttled:
        _error(request, HTTPStatus.TOO_MANY_REQUESTS, "TooManyRequestsException", "Rate Exceeded.")
        return
    headers = {} if ok else {"X-Amz-Function-Error": "Unhandled"}
    _send(request, HTTPStatus.OK, json.dumps(response, default=str).encode(), headers)


def _error(request: BaseHTTPRequestHandler, status: HTTPStatus, kind: str, message: str) -> None:
    _send(
        request,
        status,
        json.dumps({"Type": "User", "message": message}).encode(),
        {"x-amzn-ErrorType": kind},
    )


def _send(
    request: BaseHTTPRequestHandler, status: HTTPStatus, body: bytes, headers: dict[str, str]
) -> None:
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(body)))
    for key, value in headers.items():
        request.send_header(key, value)
    request.end_headers()
    request.wfile.write(body)


class LambdaApiServer(LoopbackServer):
    request_queue_size = 1024

    def __init__(
        self,
        lambdas: LocalLambda,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        throttle: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(_InvokeHandler, host=host, port=port)
        self.lambdas = lambdas
        self.throttle = throttle
        self.throttled = 0
        #: what GetFunction reports as every function's environment
        self.environment: dict[str, str] = {}
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not crypto
        self._lock = threading.Lock()

    def should_throttle(self) -> bool:
        with self._lock:
            if self._random.random() < self.throttle:
                self.throttled += 1
                return True
            return False


class _InvokeHandler(BaseHTTPRequestHandler):
    server: LambdaApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the service logs decisions; request lines are noise here

    def do_GET(self) -> None:
        """GetFunction, GetFunctionConfiguration, GetFunctionEventInvokeConfig and
        GetFunctionConcurrency: enough for `cronbridge doctor` and target checks."""
        path = urlsplit(self.path).path
        if path.startswith(_CONCURRENCY_PREFIX) and path.endswith(_CONCURRENCY_SUFFIX):
            self._concurrency(unquote(path[len(_CONCURRENCY_PREFIX) : -len(_CONCURRENCY_SUFFIX)]))
            return
        if path.startswith(_EVENT_CONFIG_PREFIX) and path.endswith(_EVENT_CONFIG_SUFFIX):
            self._event_invoke_config(
                unquote(path[len(_EVENT_CONFIG_PREFIX) : -len(_EVENT_CONFIG_SUFFIX)])
            )
            return
        rest = (
            unquote(path[len(INVOKE_PREFIX) :]).rstrip("/")
            if path.startswith(INVOKE_PREFIX)
            else ""
        )
        name, _, detail = rest.partition("/")
        name = name.rsplit(":function:", 1)[-1]
        if not name or detail not in ("", "configuration") or not self.server.lambdas.defines(name):
            _error(
                self,
                HTTPStatus.NOT_FOUND,
                "ResourceNotFoundException",
                f"Function not found: {name}",
            )
            return
        config = {
            "FunctionName": name,
            "FunctionArn": f"{_ARN_PREFIX}{name}",
            "Runtime": "python3.12",
            "Timeout": round(self.server.lambdas.config(name).timeout),
            "State": "Active",
            "Environment": {"Variables": self.server.environment},
        }
        body = config if detail == "configuration" else {"Configuration": config}
        _send(self, HTTPStatus.OK, json.dumps(body).encode(), {})

    def _concurrency(self, name: str) -> None:
        if not self.server.lambdas.defines(name):
            _error(
                self,
                HTTPStatus.NOT_FOUND,
                "ResourceNotFoundException",
                f"Function not found: {name}",
            )
            return
        limit = self.server.lambdas.config(name).max_concurrency
        body = {} if limit is None else {"ReservedConcurrentExecutions": limit}
        _send(self, HTTPStatus.OK, json.dumps(body).encode(), {})

    def _event_invoke_config(self, name: str) -> None:
        config = self.server.lambdas.config(name) if self.server.lambdas.defines(name) else None
        if config is None or config.destination is None:
            _error(
                self,
                HTTPStatus.NOT_FOUND,
                "ResourceNotFoundException",
                f"The function {name} has no event invoke config",
            )
            return
        # A results queue's ARN (bridge.local.queue.ResultDestination), as Terraform sets it.
        queue = getattr(config.destination, "queue", None)
        target = {"Destination": str(getattr(queue, "arn", ""))}
        body = {
            "FunctionArn": f"{_ARN_PREFIX}{name}",
            "MaximumRetryAttempts": config.max_attempts - 1,
            "MaximumEventAgeInSeconds": int(config.max_event_age),
            "DestinationConfig": {"OnSuccess": target, "OnFailure": target},
        }
        _send(self, HTTPStatus.OK, json.dumps(body).encode(), {})

    def do_POST(self) -> None:
        name = function_name(self.path)
        if name is None:
            _error(
                self, HTTPStatus.NOT_FOUND, "ResourceNotFoundException", "not an Invoke API path"
            )
            return
        if self.server.should_throttle():
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            _error(self, HTTPStatus.TOO_MANY_REQUESTS, "TooManyRequestsException", "Rate Exceeded.")
            return
        answer_invoke(self, self.server.lambdas, name)
