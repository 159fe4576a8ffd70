"""Hostile and broken requests at both endpoints that answer as the trigger bucket:
`cronbridge serve`'s (TriggerServer) and the sandbox's (TriggerBucketEndpoint), over real
sockets on loopback. Every refusal is S3's XML, a refused request opens nothing, and a
client that hangs up is one log line, never a traceback."""

from __future__ import annotations

import http.client
import logging
import os
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.cli.backend import render_signed_curl
from bridge.domain.controls import Controls
from bridge.local.home import Home
from bridge.local.loopback import LoopbackServer
from bridge.local.runtime import LocalRuntime
from bridge.local.server import TriggerServer
from bridge.sandbox import TriggerBucketEndpoint
from bridge.usecases.register import ListSource
from tests.conftest import numbered_jobs, write_jobs
from triggers.request import build_trigger_request

BOUND = 30.0  # ends a broken test; never a claim about speed
BUCKET = "b"


class FakeS3:
    """moto's S3 as the sandbox endpoint uses it: put_object, recorded."""

    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_object(self, *, Bucket: str, Key: str, Body: bytes) -> dict[str, str]:
        self.puts.append({"Bucket": Bucket, "Key": Key, "Body": Body})
        return {"ETag": '"etag"'}


@dataclass
class Endpoint:
    server: LoopbackServer
    secret: str
    opened: Callable[[], int]  # runs opened (serve), objects stored (sandbox)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def connect(self) -> socket.socket:
        return socket.create_connection(self.address, timeout=BOUND)

    def exchange(self, raw: bytes) -> http.client.HTTPResponse:
        """Send `raw` as it is and read one answer."""
        with self.connect() as sock:
            sock.sendall(raw)
            response = http.client.HTTPResponse(sock)
            response.begin()
            response.read()
        return response


@pytest.fixture(params=["serve", "sandbox"])
def endpoint(
    request: pytest.FixtureRequest, runtime: LocalRuntime, home: Home, tmp_path: Path
) -> Iterator[Endpoint]:
    server: LoopbackServer
    if request.param == "serve":
        path = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 1))
        runtime.register(
            "g", "python:publishers.examples:echo", [ListSource.from_path("a", path)], Controls()
        )
        secret = home.secret()
        server = TriggerServer(runtime, secret=secret, bucket=BUCKET, port=0)

        def opened() -> int:
            return len(runtime.ledger.list_runs(None, 10))

    else:
        s3 = FakeS3()
        secret = "sandbox-secret"
        server = TriggerBucketEndpoint(s3, BUCKET, secret)

        def opened() -> int:
            return len(s3.puts)

    server.request_timeout = 1.0  # a stalled client is dropped after a second
    server.start()
    yield Endpoint(server, secret, opened)
    server.stop()


def put_head(secret: str, path: str = f"/{BUCKET}/triggers/g", length: int = 0) -> bytes:
    return (
        f"PUT {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: {secret}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def read_to_end(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; raises TimeoutError past BOUND."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_an_http_0_9_request_line_gets_a_400_and_the_connection_is_closed(
    endpoint: Endpoint,
) -> None:
    with endpoint.connect() as sock:
        sock.sendall(b"GET /\r\n")
        answer = read_to_end(sock)
    assert answer.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request")
    assert b"<Code>BadRequest</Code>" in answer


def test_a_request_that_stops_arriving_is_dropped(endpoint: Endpoint) -> None:
    with endpoint.connect() as sock:
        sock.sendall(b"PUT /b/trigg")  # and nothing more
        assert read_to_end(sock) == b""  # closed by the server
    assert endpoint.opened() == 0


def test_every_method_but_put_gets_s3s_405(endpoint: Endpoint) -> None:
    answers = {}
    for method in ("TRACE", "PROPFIND", "CONNECT", "put", "Put", "FOO", "GET", "DELETE"):
        raw = put_head(endpoint.secret).replace(b"PUT ", method.encode() + b" ", 1)
        response = endpoint.exchange(raw)
        answers[method] = (
            response.status,
            response.getheader("Allow"),
            response.getheader("Content-Type"),
        )
    assert set(answers.values()) == {(405, "PUT", "application/xml")}, answers
    assert endpoint.opened() == 0


def test_the_405_body_is_s3s_xml(endpoint: Endpoint) -> None:
    with endpoint.connect() as sock:
        sock.sendall(put_head(endpoint.secret).replace(b"PUT ", b"TRACE ", 1))
        answer = read_to_end(sock)  # a refusal closes the connection
    assert b"<Error><Code>MethodNotAllowed</Code>" in answer


def test_a_body_shorter_than_its_content_length_opens_nothing(endpoint: Endpoint) -> None:
    with endpoint.connect() as sock:
        sock.sendall(put_head(endpoint.secret, length=100) + b'{"note": "x"}')
        sock.shutdown(socket.SHUT_WR)  # the client gives up mid-body
        answer = read_to_end(sock)
    assert answer.split(b"\r\n", 1)[0] == b"HTTP/1.1 400 Bad Request"
    assert b"<Code>IncompleteBody</Code>" in answer
    assert endpoint.opened() == 0


def test_a_body_that_stops_arriving_opens_nothing(endpoint: Endpoint) -> None:
    with endpoint.connect() as sock:
        sock.sendall(put_head(endpoint.secret, length=100) + b'{"note": "')
        answer = read_to_end(sock)  # the server's read timeout ends it
    assert b"<Code>RequestTimeout</Code>" in answer
    assert endpoint.opened() == 0


def test_a_leading_double_slash_is_an_invalid_bucket_not_a_trigger(endpoint: Endpoint) -> None:
    """http.server collapses `//b/triggers/g` to `/b/triggers/g`; S3 would read an
    empty bucket name there."""
    response = endpoint.exchange(put_head(endpoint.secret, path=f"//{BUCKET}/triggers/g"))
    assert response.status == 400
    assert endpoint.opened() == 0
    with endpoint.connect() as sock:
        sock.sendall(put_head(endpoint.secret, path=f"///{BUCKET}/triggers/g"))
        assert b"<Code>InvalidBucketName</Code>" in read_to_end(sock)
    assert endpoint.opened() == 0


def test_clients_that_hang_up_are_one_log_line_each_never_a_traceback(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="cronbridge")
    idle = [endpoint.connect() for _ in range(50)]
    for sock in idle:  # reset, not a polite close: the server's read fails
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    end = time.monotonic() + BOUND
    while time.monotonic() < end and not any(
        r.getMessage() == "client went away" for r in caplog.records
    ):
        time.sleep(0.05)
    assert any(r.getMessage() == "client went away" for r in caplog.records)
    # Still serving, and nothing on stderr but log lines.
    assert endpoint.exchange(put_head(endpoint.secret, path="/other/x")).status == 403
    assert "Traceback" not in capfd.readouterr().err


# -- the sandbox's endpoint admits a PUT signed with the sandbox's credentials ----------


@pytest.fixture
def signed_endpoint() -> Iterator[tuple[TriggerBucketEndpoint, FakeS3]]:
    s3 = FakeS3()
    server = TriggerBucketEndpoint(s3, BUCKET, "sandbox-secret", credentials=("sandbox", "sandbox"))
    server.start()
    yield server, s3
    server.stop()


@pytest.mark.parametrize(
    ("key_id", "secret_key", "status", "stored"),
    [
        ("sandbox", "sandbox", "200", 1),
        ("sandbox", "guess", "403", 0),
        ("someone", "sandbox", "403", 0),
    ],
)
def test_the_printed_signed_curl_line_is_admitted_only_with_the_sandbox_credentials(
    signed_endpoint: tuple[TriggerBucketEndpoint, FakeS3],
    key_id: str,
    secret_key: str,
    status: str,
    stored: int,
) -> None:
    server, s3 = signed_endpoint
    request = build_trigger_request(f"{server.url}/{BUCKET}", "g", user_agent="", source="curl")
    line = render_signed_curl(request, "us-east-1").replace("curl -fsS", "curl -sS", 1)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_SESSION_TOKEN": "",
    }
    done = subprocess.run(
        ["sh", "-c", line + " -o /dev/null -w '%{http_code}'"],
        env=env,
        capture_output=True,
        text=True,
        timeout=BOUND,
    )
    assert done.stdout == status, done.stderr
    assert len(s3.puts) == stored
    if stored:
        assert s3.puts[0]["Key"] == "triggers/g" and s3.puts[0]["Body"] == request.body
