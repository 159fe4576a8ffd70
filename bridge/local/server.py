"""The local trigger endpoint: answers `PUT /<bucket>/triggers/<group>` as the S3 trigger
bucket would, and runs the dispatcher on it.

Like the bucket's policy it admits a request only with the secret User-Agent (403
`AccessDenied` otherwise, in S3's XML) and only under `triggers/`. Because the
dispatcher runs right here, it can also say what became of the trigger: headers
`x-cronbridge-run` and `x-cronbridge-decision` on 200, and an S3-style error for an
unknown group (404) or a bad key or body (400), where S3 would have answered 200 and
the dispatcher would have logged the rejection.

It also offers Lambda's Invoke API for asynchronous invokes
(`POST /2015-03-31/functions/<name>/invocations`, `X-Amz-Invocation-Type: Event`),
under the same User-Agent rule, so the CLI can start publishers (`runs redrive`).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from bridge.domain.triggers import (
    MAX_BODY_BYTES,
    TRIGGER_PREFIX,
    TriggerEvent,
    carries_secret,
)
from bridge.exceptions import CronbridgeError, GroupNotFound, InvalidInput
from bridge.local.lambda_api import answer_invoke, function_name
from bridge.local.loopback import LoopbackServer
from bridge.local.runtime import LocalRuntime

__all__ = ["TriggerServer"]

log = logging.getLogger("cronbridge.local.server")


class TriggerServer(LoopbackServer):
    request_queue_size = 512

    def __init__(
        self,
        runtime: LocalRuntime,
        *,
        secret: str,
        bucket: str,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(_Handler, host=host, port=port)
        self.runtime = runtime
        self.bucket = bucket
        self._secret = secret
        self._sequence = itertools.count(1)
        self.rejected: dict[str, int] = {}
        self._counts_lock = threading.Lock()

    def admits(self, user_agent: str) -> bool:
        return carries_secret(user_agent, self._secret)

    def next_sequencer(self) -> str:
        return f"{time.time_ns():016X}{next(self._sequence):08X}"

    def count_rejection(self, code: str) -> None:
        with self._counts_lock:
            self.rejected[code] = self.rejected.get(code, 0) + 1


class _Handler(BaseHTTPRequestHandler):
    server: TriggerServer
    server_version = "cronbridge"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http " + format % args)

    # -- routing -----------------------------------------------------------------------

    def do_PUT(self) -> None:
        path = urlsplit(self.path).path
        if not self._authorized():
            return
        prefix = f"/{self.server.bucket}/"
        key = unquote(path[len(prefix) :]) if path.startswith(prefix) else ""
        if not key.startswith(TRIGGER_PREFIX):
            self._s3_error(HTTPStatus.FORBIDDEN, "AccessDenied", "Access Denied")
            return
        body = self._read_body(MAX_BODY_BYTES)
        if body is None:
            return
        self._trigger(key, body)

    def do_POST(self) -> None:
        name = function_name(self.path)
        if name is None:
            self._method_not_allowed()
            return
        if not self._authorized():
            return
        # Asynchronous only: nothing of the local runtime should run in a request thread.
        answer_invoke(self, self.server.runtime.lambdas, name, async_only=True)

    def do_GET(self) -> None:
        self._method_not_allowed()

    do_HEAD = do_GET
    do_DELETE = do_GET
    do_PATCH = do_GET
    do_OPTIONS = do_GET

    # -- handlers ----------------------------------------------------------------------

    def _trigger(self, key: str, body: bytes) -> None:
        event = TriggerEvent(
            bucket=self.server.bucket,
            key=key,
            body=body,
            event_time=self.server.runtime.clock.now(),
            sequencer=self.server.next_sequencer(),
            etag=hashlib.md5(body, usedforsecurity=False).hexdigest(),
        )
        try:
            outcome = self.server.runtime.handle_trigger(event)
        except GroupNotFound as exc:
            self._reject(HTTPStatus.NOT_FOUND, exc)
            return
        except InvalidInput as exc:
            self._reject(HTTPStatus.BAD_REQUEST, exc)
            return
        except CronbridgeError as exc:
            self._reject(HTTPStatus.CONFLICT, exc)
            return
        except Exception:
            log.exception("trigger failed", extra={"key": key})
            self._s3_error(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            )
            return
        log.info(
            "trigger accepted",
            extra={
                "group": outcome.group,
                "run": outcome.run_id,
                "decision": outcome.decision,
                "reason": outcome.reason,
                "publishers": outcome.publishers,
            },
        )
        headers = {
            "ETag": f'"{event.etag}"',
            "x-cronbridge-run": outcome.run_id,
            "x-cronbridge-decision": outcome.decision,
        }
        if outcome.reason:
            headers["x-cronbridge-reason"] = outcome.reason
        self._send(HTTPStatus.OK, b"", "application/xml", headers)

    # -- helpers -----------------------------------------------------------------------

    def _authorized(self) -> bool:
        if self.server.admits(self.headers.get("User-Agent", "")):
            return True
        self.server.count_rejection("AccessDenied")
        log.info(
            "request denied", extra={"reason": "user agent does not match", "method": self.command}
        )
        self._s3_error(HTTPStatus.FORBIDDEN, "AccessDenied", "Access Denied")
        return False

    def _read_body(self, limit: int) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._s3_error(
                HTTPStatus.LENGTH_REQUIRED,
                "MissingContentLength",
                "You must provide the Content-Length HTTP header.",
            )
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > limit:
            self.server.count_rejection("EntityTooLarge")
            self._s3_error(
                HTTPStatus.BAD_REQUEST,
                "EntityTooLarge",
                f"Your proposed upload exceeds the maximum allowed size of {limit} bytes",
            )
            return None
        return self.rfile.read(length)

    def _reject(self, status: HTTPStatus, error: CronbridgeError) -> None:
        self.server.count_rejection(error.code)
        log.info("trigger rejected", extra={"code": error.code, "reason": error.message})
        message = error.message + (f" ({error.hint})" if error.hint else "")
        self._s3_error(status, error.code, message)

    def _method_not_allowed(self) -> None:
        self._s3_error(
            HTTPStatus.METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            {"Allow": "PUT"},
        )

    def _s3_error(
        self, status: HTTPStatus, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        # An error may leave a request body unread: never parse it as the next request.
        self.close_connection = True
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{self.server.next_sequencer()}</RequestId></Error>"
        ).encode()
        self._send(status, body, "application/xml", headers or {})

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str]
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
