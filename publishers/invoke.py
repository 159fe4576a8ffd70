"""The publisher's hot path: Lambda's asynchronous Invoke, made lean.

A publisher leaf makes one `Invoke(InvocationType=Event)` per job. The botocore client
spends about a millisecond of CPU on each (parameter validation, event hooks, its own
retry machinery); the request itself needs a fraction of that. `EventInvokeClient`
sends exactly that request: credentials from botocore's chain, signed by botocore's
SigV4 signer, on one kept-alive connection per thread. bench/invoke_cpu.py measures it.

It answers like the client it stands in for: `invoke(...)` returns on 202, raises
`ClientError` with Lambda's error code and HTTP status, or a `BotoCoreError` when the
connection fails, so callers retry it the same way. Anything it does not handle (a
synchronous invoke, a qualified or ARN function name, a proxy) goes to the full client.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

__all__ = ["EventInvokeClient"]

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]{1,140}")
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


class EventInvokeClient:
    def __init__(self, client: Any, credentials: Any) -> None:
        """`client`: a botocore Lambda client (its endpoint, region and timeouts are
        used); `credentials`: botocore credentials, e.g. `session.get_credentials()`."""
        self._client = client
        self._credentials = credentials
        endpoint = urlsplit(client.meta.endpoint_url)
        self._scheme = endpoint.scheme
        self._netloc = endpoint.netloc
        self._host = endpoint.hostname or ""
        self._port = endpoint.port
        self._prefix = endpoint.path.rstrip("/")
        self._region = client.meta.region_name
        config = client.meta.config
        self._timeout = float(config.connect_timeout or 60) + float(config.read_timeout or 60)
        self._local = threading.local()
        self._open: list[http.client.HTTPConnection] = []
        self._generation = 0  # bumped by close_connections: every thread opens anew
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None
        self._direct = credentials is not None and not any(
            os.environ.get(v) for v in _PROXY_VARIABLES
        )
        self.meta = client.meta

    def invoke(self, **kwargs: Any) -> Any:
        function = kwargs.get("FunctionName", "")
        if (
            not self._direct
            or kwargs.get("InvocationType") != "Event"
            or set(kwargs) - {"FunctionName", "InvocationType", "Payload"}
            or not _PLAIN_NAME.fullmatch(function)
        ):
            return self._client.invoke(**kwargs)
        return self._invoke_event(function, _as_bytes(kwargs.get("Payload", b"")))

    def _invoke_event(self, function: str, payload: bytes) -> dict[str, Any]:
        path = f"{self._prefix}/2015-03-31/functions/{function}/invocations"
        request = AWSRequest(
            method="POST",
            url=f"{self._scheme}://{self._netloc}{path}",
            data=payload,
            headers={"Host": self._netloc, "X-Amz-Invocation-Type": "Event"},
        )
        SigV4Auth(self._credentials.get_frozen_credentials(), "lambda", self._region).add_auth(
            request
        )
        headers = dict(request.headers.items())
        status, error_type, body = self._send(path, payload, headers)
        if status == 202:
            return {"StatusCode": 202, "Payload": None}
        raise _client_error(status, error_type, body)

    def _send(self, path: str, payload: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """POST on this thread's connection; a stale kept-alive connection is replaced once."""
        for fresh in (False, True):
            connection = self._connection(fresh)
            try:
                connection.request("POST", path, body=payload, headers=headers)
                response = connection.getresponse()
                body = response.read()
                return response.status, response.getheader("x-amzn-ErrorType", ""), body
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                if fresh:
                    raise ConnectionClosedError(endpoint_url=self._url(path)) from None
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                raise EndpointConnectionError(endpoint_url=self._url(path), error=exc) from None
        raise AssertionError("unreachable")

    def _connection(self, fresh: bool) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if getattr(self._local, "generation", None) != self._generation:
            connection = None
        if connection is None or fresh:
            if connection is not None:
                self._forget(connection)
            if self._scheme == "https":
                connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=self._context()
                )
            else:
                connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout
                )
            self._local.connection = connection
            self._local.generation = self._generation
            with self._lock:
                self._open.append(connection)
        return connection

    def _forget(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        with self._lock:
            if connection in self._open:
                self._open.remove(connection)

    def close_connections(self) -> None:
        """Close every thread's connection (the wrapped client is its owner's to close)."""
        with self._lock:
            connections, self._open = self._open, []
            self._generation += 1
        for connection in connections:
            connection.close()

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            bundle = os.environ.get("AWS_CA_BUNDLE")
            self._ssl = (
                ssl.create_default_context(cafile=bundle)
                if bundle
                else ssl.create_default_context()
            )
        return self._ssl

    def _url(self, path: str) -> str:
        return f"{self._scheme}://{self._netloc}{path}"


def _as_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return bytes(payload.read())


def _client_error(status: int, error_type: str, body: bytes) -> ClientError:
    """The ClientError botocore would raise for this answer."""
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    code = error_type.split(":", 1)[0] or str(parsed.get("Type") or parsed.get("__type") or status)
    message = str(parsed.get("message") or parsed.get("Message") or "")
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "Invoke")
