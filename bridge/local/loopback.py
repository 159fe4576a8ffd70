"""The one shape of our small HTTP servers: bind, serve in a thread, stop.

`S3Handler` is the request handler of the endpoints that answer as an S3 bucket does
(`cronbridge serve`'s and the sandbox's). It holds what they share against hostile or
broken clients: a read timeout on every connection, S3's 405 XML for every method the
endpoint does not serve (in any spelling), a 400 for an HTTP/0.9 request line, a body
read to its `Content-Length` or refused (`IncompleteBody`), and a path whose bucket
segment is empty (`//bucket/key`, which http.server would quietly collapse) refused.
A client that goes away is one log line, never a traceback.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from xml.sax.saxutils import escape

__all__ = ["REQUEST_TIMEOUT", "LoopbackServer", "S3Handler"]

log = logging.getLogger("cronbridge.local.http")

#: seconds a connection may wait for the next bytes of a request before it is closed
REQUEST_TIMEOUT = 5.0

_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
_METHOD = re.compile(r"[A-Z]+")


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        super().__init__((host, port), handler)
        self.request_timeout = request_timeout
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, name=type(self).__name__, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line for a request that failed, never socketserver's traceback: a
        client that hangs up early is ordinary on an endpoint open to schedulers."""
        error = sys.exc_info()[1]
        client = f"{client_address[0]}:{client_address[1]}" if client_address else "?"
        if isinstance(error, _GONE):
            log.info(
                "client went away",
                extra={"client": client, "error": type(error).__name__},
            )
        else:
            log.warning(
                "request failed",
                extra={"client": client, "error": f"{type(error).__name__}: {error}"},
            )


class S3Handler(BaseHTTPRequestHandler):
    """The shared request handling of an endpoint that answers as an S3 bucket.

    A subclass defines `do_PUT` (and any other method it serves, in capitals); every
    other method, including `put` or `TRACE`, gets S3's 405 `MethodNotAllowed`.
    """

    server: LoopbackServer
    protocol_version = "HTTP/1.1"
    #: what the 405 answer's Allow header lists
    allowed_methods: ClassVar[tuple[str, ...]] = ("PUT",)

    def setup(self) -> None:
        super().setup()
        # Every read waits at most this long: a client that stops sending is dropped.
        self.connection.settimeout(self.server.request_timeout)
        self.target = ""  # the request target exactly as sent

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http " + format % args)

    # -- request line and dispatch -----------------------------------------------------

    def parse_request(self) -> bool:
        words = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n").split()
        if len(words) == 2:
            # HTTP/0.9 has no headers to end the request: http.server would wait for
            # them forever. Answer as HTTP/1.0 and close.
            self.requestline = " ".join(words)
            self.command, self.request_version = words[0], "HTTP/1.0"
            self.close_connection = True
            self.send_s3_error(HTTPStatus.BAD_REQUEST, "BadRequest", "HTTP/0.9 is not supported")
            return False
        self.target = words[1] if len(words) >= 2 else ""
        return super().parse_request()

    def handle_one_request(self) -> None:
        """http.server's, except that a method this endpoint does not serve, in whatever
        spelling, gets S3's 405 rather than an HTML 501."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline, self.request_version, self.command = "", "HTTP/1.0", ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            served = _METHOD.fullmatch(self.command) and getattr(self, f"do_{self.command}", None)
            if served:
                served()
            else:
                self.method_not_allowed()
            self.wfile.flush()
        except TimeoutError:
            # A request that stopped arriving: drop the connection, as S3 does.
            log.info("request timed out", extra={"client": self.client_address[0]})
            self.close_connection = True

    def method_not_allowed(self) -> None:
        self.send_s3_error(
            HTTPStatus.METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            {"Allow": ", ".join(self.allowed_methods)},
        )

    def object_key(self, bucket: str) -> str | None:
        """The key a path-style request names in `bucket`: "" when it names another
        bucket or none; None when its bucket segment is empty (`//bucket/...`), which
        S3 refuses as an invalid bucket name (the answer is already sent)."""
        from urllib.parse import unquote, urlsplit

        if self.target.startswith("//"):
            self.send_s3_error(
                HTTPStatus.BAD_REQUEST, "InvalidBucketName", "The specified bucket is not valid."
            )
            return None
        path = urlsplit(self.path).path
        prefix = f"/{bucket}/"
        return unquote(path[len(prefix) :]) if path.startswith(prefix) else ""

    # -- bodies ------------------------------------------------------------------------

    def read_body(self, limit: int) -> bytes | None:
        """The request body, read to its Content-Length; None if it was refused (the
        answer is sent): chunked, over `limit`, or shorter than its Content-Length."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.refuse(
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
            self.refuse(
                HTTPStatus.BAD_REQUEST,
                "EntityTooLarge",
                f"Your proposed upload exceeds the maximum allowed size of {limit} bytes",
            )
            return None
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self.refuse(
                HTTPStatus.BAD_REQUEST,
                "RequestTimeout",
                "Your socket connection to the server was not read from or written to "
                "within the timeout period.",
            )
            return None
        if len(body) < length:  # the client half-closed: S3 stores nothing
            self.refuse(
                HTTPStatus.BAD_REQUEST,
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length "
                "HTTP header.",
            )
            return None
        return body

    # -- answers -----------------------------------------------------------------------

    def refuse(
        self, status: HTTPStatus, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        """Answer a request this endpoint turns down; a subclass may count them."""
        self.send_s3_error(status, code, message, headers)

    def request_id(self) -> str:
        return secrets.token_hex(8).upper()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a bad request line, too many headers), in S3's XML."""
        status = HTTPStatus(code)
        self.close_connection = True
        self.send_s3_error(status, status.phrase.replace(" ", ""), message or status.description)

    def send_s3_error(
        self, status: HTTPStatus, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        # An error may leave a request body unread: never parse it as the next request.
        self.close_connection = True
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{self.request_id()}</RequestId></Error>"
        ).encode()
        self.send_answer(status, body, "application/xml", headers or {})

    def send_answer(
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
