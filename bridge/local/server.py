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

Hostile and broken requests (a stalled client, HTTP/0.9, an unknown method, a body
shorter than its Content-Length, `//bucket/...`) are refused as S3 would, by
`bridge.local.loopback.S3Handler`, which the sandbox's trigger endpoint shares.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import time
from http import HTTPStatus

from bridge.domain.triggers import (
    MAX_BODY_BYTES,
    TRIGGER_PREFIX,
    TriggerEvent,
    carries_secret,
)
from bridge.exceptions import CronbridgeError, GroupNotFound, InvalidInput
from bridge.local.lambda_api import answer_invoke, function_name
from bridge.local.loopback import REQUEST_TIMEOUT, LoopbackServer, S3Handler
from bridge.local.runtime import LocalRuntime
from bridge.local.target_check import answer_target_check, is_target_check

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
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        super().__init__(_Handler, host=host, port=port, request_timeout=request_timeout)
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


class _Handler(S3Handler):
    server: TriggerServer
    server_version = "cronbridge"
    allowed_methods = ("PUT",)

    # -- routing -----------------------------------------------------------------------
    # A method without a do_ method here gets S3's 405 (bridge.local.loopback.S3Handler).

    def do_PUT(self) -> None:
        key = self.object_key(self.server.bucket)
        if key is None or not self._authorized():
            return
        if not key.startswith(TRIGGER_PREFIX):
            self.send_s3_error(HTTPStatus.FORBIDDEN, "AccessDenied", "Access Denied")
            return
        body = self.read_body(MAX_BODY_BYTES)
        if body is None:
            return
        self._trigger(key, body)

    def do_POST(self) -> None:
        if is_target_check(self.path):  # `groups register` asks (bridge.local.target_check)
            if self._authorized():
                answer_target_check(self)
            return
        name = function_name(self.path)
        if name is None:
            self.method_not_allowed()
            return
        if not self._authorized():
            return
        # Asynchronous only: nothing of the local runtime should run in a request thread.
        answer_invoke(self, self.server.runtime.lambdas, name, async_only=True)

    def do_GET(self) -> None:
        self.method_not_allowed()

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
            self.send_s3_error(
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
        self.send_answer(HTTPStatus.OK, b"", "application/xml", headers)

    # -- helpers -----------------------------------------------------------------------

    def _authorized(self) -> bool:
        if self.server.admits(self.headers.get("User-Agent", "")):
            return True
        log.info(
            "request denied", extra={"reason": "user agent does not match", "method": self.command}
        )
        self.refuse(HTTPStatus.FORBIDDEN, "AccessDenied", "Access Denied")
        return False

    def _reject(self, status: HTTPStatus, error: CronbridgeError) -> None:
        log.info("trigger rejected", extra={"code": error.code, "reason": error.message})
        message = error.message + (f" ({error.hint})" if error.hint else "")
        self.refuse(status, error.code, message)

    def refuse(
        self, status: HTTPStatus, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self.server.count_rejection(code)
        self.send_s3_error(status, code, message, headers)

    def request_id(self) -> str:
        return self.server.next_sequencer()
