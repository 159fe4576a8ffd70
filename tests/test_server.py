"""The trigger server in-process: what it counts and what it logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.domain.controls import Controls
from bridge.local.home import Home
from bridge.local.runtime import LocalRuntime
from bridge.local.server import TriggerServer
from bridge.logs import JsonFormatter
from bridge.usecases.register import ListSource
from tests.conftest import numbered_jobs, write_jobs


@pytest.fixture
def server(runtime: LocalRuntime, home: Home, tmp_path: Path) -> Iterator[TriggerServer]:
    path = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 3))
    runtime.register(
        "g", "python:publishers.examples:echo", [ListSource.from_path("a", path)], Controls()
    )
    srv = TriggerServer(runtime, secret=home.secret(), bucket="b", port=0)
    srv.start()
    yield srv
    srv.stop()


def test_rejections_are_counted_by_reason_and_logged_without_the_secret(
    server: TriggerServer, home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    secret = home.secret()
    caplog.set_level(logging.DEBUG, logger="cronbridge")
    base = f"{server.url}/b/triggers"
    with httpx.Client() as client:
        client.put(f"{base}/g", headers={"User-Agent": "wrong"})
        client.put(f"{base}/g", headers={"User-Agent": secret[:-1]})
        client.put(f"{base}/nope", headers={"User-Agent": secret})
        client.put(f"{base}/g", content=b"[]", headers={"User-Agent": secret})
        client.put(f"{base}/g", content=b"x" * 5000, headers={"User-Agent": secret})
        accepted = client.put(f"{base}/g", headers={"User-Agent": secret})
    assert accepted.status_code == 200
    assert server.rejected == {
        "AccessDenied": 2,
        "NoSuchGroup": 1,
        "InvalidTrigger": 1,
        "EntityTooLarge": 1,
    }
    assert server.runtime.lambdas.wait_idle(60)
    lines = [JsonFormatter().format(record) for record in caplog.records]
    assert lines, "the server logs its decisions"
    for line in lines:
        assert secret not in line
        json.loads(line)  # one JSON object per line
    decisions = [json.loads(line) for line in lines if '"trigger accepted"' in line]
    assert [(d["group"], d["decision"]) for d in decisions] == [("g", "opened")]


def test_an_internal_failure_is_a_500_and_the_server_goes_on(
    server: TriggerServer, home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    secret = home.secret()
    ledger_path = home.ledger_path
    server.runtime.ledger.close()
    broken = ledger_path.with_suffix(".moved")
    ledger_path.rename(broken)
    ledger_path.mkdir()  # the ledger file is now a directory: every write fails
    try:
        response = httpx.put(f"{server.url}/b/triggers/g", headers={"User-Agent": secret})
    finally:
        ledger_path.rmdir()
        broken.rename(ledger_path)
    assert response.status_code == 500 and "<Code>InternalError</Code>" in response.text
    assert any(r.getMessage() == "trigger failed" for r in caplog.records)
    assert (
        httpx.put(f"{server.url}/b/triggers/g", headers={"User-Agent": secret}).status_code == 200
    )
