"""A webhook receiver on loopback for the alert tests: a real HTTP server on
127.0.0.1, port 0, in a thread, that answers POSTs as it is told and keeps them."""

from __future__ import annotations

import contextlib
import hmac
import http.server
import queue
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.domain.alerts import SIGNATURE_HEADER, verify_signature

__all__ = [
    "Received",
    "Receiver",
    "closed_port",
    "expect_same_secret",
    "expect_signature",
    "receiver",
]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers POSTs with the statuses it is given, in order (then 200), each with
    `answer` as its body; `received()` is what it was sent, oldest first."""

    def __init__(self, statuses: Sequence[int] = (), answer: bytes = b"ok") -> None:
        self.statuses = list(statuses)
        self.answer = answer
        self._received: queue.Queue[Received] = queue.Queue()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                owner._received.put(Received(self.path, dict(self.headers.items()), body))
                status = owner.statuses.pop(0) if owner.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", str(len(owner.answer)))
                self.end_headers()
                self.wfile.write(owner.answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/cronbridge"

    def received(self) -> list[Received]:
        items = []
        while not self._received.empty():
            items.append(self._received.get_nowait())
        return items

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@contextlib.contextmanager
def receiver(statuses: Sequence[int] = (), answer: bytes = b"ok") -> Iterator[Receiver]:
    running = Receiver(statuses, answer)
    try:
        yield running
    finally:
        running.close()


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def expect_signature(
    secret: str, post: Received, now: datetime | float, *, valid: bool = True
) -> None:
    """Check the POST's signature against `secret`, saying only whether it held: a
    failing test prints no secret (an `assert verify_signature(secret, ...)` would)."""
    header = {k.lower(): v for k, v in post.headers.items()}.get(SIGNATURE_HEADER.lower(), "")
    if verify_signature(secret, header, post.body, now) is not valid:
        raise AssertionError(
            f"the signature {'does not verify' if valid else 'verifies'} with the alert's secret"
        )


def expect_same_secret(found: str | None, expected: str) -> None:
    if found is None or not hmac.compare_digest(found, expected):
        raise AssertionError("the secret is not the one expected (neither is printed)")
