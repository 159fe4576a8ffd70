"""The lean async-invoke path against a loopback Invoke API stub: the same request the
botocore client would send, a signature botocore accepts, errors as ClientError, stale
connections replaced, and everything unusual handed to the full client."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from publishers.delivery import AsyncInvoker, Backoff, client_config
from publishers.invoke import EventInvokeClient

KEY, SECRET = "AKIDINVOKETEST000001", "invoke-test-secret-key"
MADE: list[Any] = []  # clients to close after each test


class Stub(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[dict[str, Any]] = []
        self.answers: list[tuple[int, str]] = []  # queued (status, error type); then 202
        self.close_after_each = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Stub

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(
            {"path": self.path, "headers": dict(self.headers.items()), "body": body}
        )
        status, kind = self.server.answers.pop(0) if self.server.answers else (202, "")
        payload = (
            b""
            if status == 202
            else json.dumps({"Type": "User", "message": "Rate Exceeded."}).encode()
        )
        self.send_response(status)
        if kind:
            self.send_header("x-amzn-ErrorType", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if self.server.close_after_each:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(autouse=True)
def closing() -> Iterator[list[Any]]:
    yield MADE
    while MADE:
        made = MADE.pop()
        (getattr(made, "close_connections", None) or made.close)()


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stub]:
    server = Stub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
    yield server
    server.shutdown()
    server.server_close()


def clients(session_token: str | None = None) -> tuple[Any, EventInvokeClient]:
    session = boto3.session.Session(
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        aws_session_token=session_token,
        region_name="eu-west-1",
    )
    client = session.client("lambda", config=client_config(4))
    lean = EventInvokeClient(client, session.get_credentials())
    MADE.extend([client, lean])
    return client, lean


def test_the_request_is_the_one_botocore_sends_and_its_signature_checks_out(stub: Stub) -> None:
    client, lean = clients(session_token="token-123")
    payload = json.dumps({"cronbridge": {"job": "a-1"}}).encode()
    client.invoke(FunctionName="worker", InvocationType="Event", Payload=payload)
    assert lean.invoke(FunctionName="worker", InvocationType="Event", Payload=payload) == {
        "StatusCode": 202,
        "Payload": None,
    }
    theirs, ours = stub.seen
    assert ours["path"] == theirs["path"] == "/2015-03-31/functions/worker/invocations"
    assert ours["body"] == theirs["body"] == payload
    for header in ("X-Amz-Invocation-Type", "X-Amz-Security-Token"):
        assert ours["headers"][header] == theirs["headers"][header]
    # Recompute the signature with botocore from what arrived: it must match.
    arrived = ours["headers"]
    check = AWSRequest(
        method="POST",
        url=stub.url + ours["path"],
        data=ours["body"],
        headers={
            name: arrived[name]
            for name in ("Host", "X-Amz-Invocation-Type", "X-Amz-Date", "X-Amz-Security-Token")
        },
    )
    signer = SigV4Auth(Credentials(KEY, SECRET, "token-123"), "lambda", "eu-west-1")
    check.context["timestamp"] = arrived["X-Amz-Date"]
    signed = signer.canonical_request(check)
    string_to_sign = signer.string_to_sign(check, signed)
    assert arrived["Authorization"].endswith("Signature=" + signer.signature(string_to_sign, check))
    day = datetime.strptime(arrived["X-Amz-Date"], "%Y%m%dT%H%M%SZ").strftime("%Y%m%d")
    assert f"Credential={KEY}/{day}/eu-west-1/lambda/aws4_request" in arrived["Authorization"]


def test_errors_are_client_errors_and_throttles_are_retried(stub: Stub) -> None:
    _, lean = clients()
    stub.answers = [(429, "TooManyRequestsException"), (500, "ServiceException")]
    with pytest.raises(ClientError) as raised:
        lean.invoke(FunctionName="worker", InvocationType="Event", Payload=b"{}")
    assert raised.value.response["Error"] == {
        "Code": "TooManyRequestsException",
        "Message": "Rate Exceeded.",
    }
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    stub.answers = [(429, "TooManyRequestsException:"), (503, "ServiceException")]
    invoker = AsyncInvoker(lean, threads=2, backoff=Backoff(tries=5, base=0.001, cap=0.01))
    invoker.invoke_all("worker", [b"{}"])
    invoker.close()
    assert len(stub.seen) == 4  # one refused above, then two refusals and a success
    stub.answers = [(404, "ResourceNotFoundException")]
    with pytest.raises(ClientError) as missing:
        lean.invoke(FunctionName="nope", InvocationType="Event", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_connection_the_server_closed_is_replaced(stub: Stub) -> None:
    _, lean = clients()
    stub.close_after_each = True
    for _ in range(3):
        lean.invoke(FunctionName="worker", InvocationType="Event", Payload=b"{}")
    assert len(stub.seen) == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"FunctionName": "worker", "InvocationType": "RequestResponse", "Payload": b"{}"},
        {
            "FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:worker",
            "InvocationType": "Event",
            "Payload": b"{}",
        },
        {"FunctionName": "worker:live", "InvocationType": "Event", "Payload": b"{}"},
        {
            "FunctionName": "worker",
            "InvocationType": "Event",
            "Payload": b"{}",
            "Qualifier": "live",
        },
    ],
)
def test_anything_unusual_goes_to_the_full_client(kwargs: dict[str, Any]) -> None:
    calls: list[dict[str, Any]] = []

    class Full:
        meta = boto3.client(
            "lambda", region_name="eu-west-1", aws_access_key_id=KEY, aws_secret_access_key=SECRET
        ).meta

        def invoke(self, **given: Any) -> str:
            calls.append(given)
            return "full"

    lean = EventInvokeClient(Full(), Credentials(KEY, SECRET))
    assert lean.invoke(**kwargs) == "full"
    assert calls == [kwargs]
