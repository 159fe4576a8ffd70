"""Secrets stay secret: the User-Agent secret and request signatures never appear in a
log line, an answer or an error message, and the secret is compared in constant time."""

from __future__ import annotations

import hmac
import json
import logging
from pathlib import Path

import boto3
import httpx
import pytest

from bridge.aws.ledger import table_definition
from bridge.cli.app import run_app
from bridge.domain import triggers as triggers_module
from bridge.domain.controls import Controls
from bridge.local.home import Home
from bridge.local.runtime import LocalRuntime
from bridge.local.server import TriggerServer
from bridge.logs import JsonFormatter
from bridge.usecases.register import ListSource
from tests.aws_world import SETTINGS, register
from tests.conftest import FakeClock, numbered_jobs, write_jobs


def ours(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [JsonFormatter().format(r) for r in caplog.records if r.name.startswith("cronbridge")]


def test_the_local_secret_is_in_no_log_line_and_no_answer(
    runtime: LocalRuntime,
    home: Home,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))
    runtime.register(
        "g", "python:publishers.examples:echo", [ListSource.from_path("a", path)], Controls()
    )
    secret = home.secret()
    # The secret anywhere in the header admits (a client may add to it); these do not.
    near_misses = [secret[:-1], secret.upper(), secret[1:], secret[:10] + "-" + secret[11:]]
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(triggers_module.hmac, "compare_digest", spy)
    caplog.set_level(logging.DEBUG)
    srv = TriggerServer(runtime, secret=secret, bucket="b", port=0)
    srv.start()
    answers: list[httpx.Response] = []
    try:
        with httpx.Client() as client:
            for agent in [*near_misses, secret]:
                for body in (b"", b"{bad json", json.dumps({"note": agent}).encode()):
                    answers.append(
                        client.put(
                            f"{srv.url}/b/triggers/g", content=body, headers={"User-Agent": agent}
                        )
                    )
            answers.append(client.put(f"{srv.url}/b/triggers/nope", headers={"User-Agent": secret}))
            answers.append(client.get(f"{srv.url}/b/triggers/g", headers={"User-Agent": secret}))
        assert runtime.lambdas.wait_idle(60)
    finally:
        srv.stop()

    assert {a.status_code for a in answers} == {200, 400, 403, 404, 405}
    assert all(
        any(given in agent.encode() for agent in [*near_misses, secret]) for given, _ in compared
    )
    assert {wanted for _, wanted in compared} == {secret.encode()}, (
        "every check went through compare_digest"
    )
    said = [a.text + json.dumps(dict(a.headers)) for a in answers if a.status_code != 200]
    lines = ours(caplog)
    assert lines, "the server logged its decisions"
    for text in [*said, *lines]:
        for value in [secret, *near_misses]:
            assert value not in text


def test_a_signed_trigger_that_fails_says_why_without_its_signature(
    aws: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    access_key, secret_key = "AKIAEXAMPLEKEYID0001", "wJalrXUtnFEMIexamplesecretkey0001"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
    for name, value in {
        **SETTINGS.to_env(),
        "AWS_REGION": "us-east-1",
        "CRONBRIDGE_BACKEND": "aws",
    }.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3").create_bucket(
        Bucket=SETTINGS.state_bucket
    )  # no trigger bucket: the PUT fails
    boto3.client("dynamodb").create_table(**table_definition(SETTINGS.ledger_table))
    from bridge.aws.runtime import AwsRuntime

    register(AwsRuntime(SETTINGS, clock=FakeClock(), threads=2), tmp_path, "g", {"a": 2})
    caplog.set_level(logging.DEBUG)

    code = run_app(["trigger", "g", "--signed"])

    err = capsys.readouterr().err
    assert code == 1
    assert "the signed PUT of s3://cronbridge-triggers-test/triggers/g failed: NoSuchBucket" in err
    assert "Traceback" not in err
    for text in [err, *ours(caplog)]:
        for leak in (
            "Signature=",
            "AWS4-HMAC-SHA256",
            "Credential=",
            "X-Amz-Security-Token",
            secret_key,
            access_key,
        ):
            assert leak not in text
