"""1,000 concurrent PUTs at the local trigger endpoint, good and bad mixed: the server
stays up, every answer is the right one, and each distinct slot opens exactly one run."""

from __future__ import annotations

import collections
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bridge.domain.controls import Controls, Overlap
from bridge.local.home import Home
from bridge.local.runtime import LocalRuntime
from bridge.local.server import TriggerServer
from bridge.usecases.register import ListSource
from tests.conftest import numbered_jobs, write_jobs

SLOTS = 40  # distinct scheduled times
WAIT = 120  # a bound so a broken test ends; never a claim about speed


@pytest.fixture
def server(runtime: LocalRuntime, home: Home, tmp_path: Path) -> Iterator[TriggerServer]:
    path = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))
    for group in ("alpha", "beta"):
        runtime.register(
            group,
            "python:publishers.examples:echo",
            [ListSource.from_path("a", path)],
            Controls(overlap=Overlap.ALLOW),
        )
    srv = TriggerServer(runtime, secret=home.secret(), bucket="b", port=0)
    srv.start()
    yield srv
    srv.stop()


def requests(secret: str) -> list[tuple[str, str, bytes, str, int]]:
    """(kind, group, body, user agent, expected status), shuffled with a fixed seed."""
    wanted: list[tuple[str, str, bytes, str, int]] = []
    for i in range(500):  # 40 slots over two groups, each PUT about a dozen times
        slot = i % SLOTS
        group = "alpha" if slot % 2 else "beta"
        body = f'{{"scheduled_time": "2026-11-22T{slot // 60:02d}:{slot % 60:02d}:00Z"}}'
        wanted.append(("slot", group, body.encode(), secret, 200))
    wanted += [("wrong-agent", "alpha", b"", "curl/8.5.0", 403)] * 150
    wanted += [("near-miss-agent", "alpha", b"", secret[:-1] + "x", 403)] * 50
    wanted += [("unknown-group", "gamma", b"", secret, 404)] * 100
    wanted += [("bad-name", "Bad_Name", b"", secret, 400)] * 50
    wanted += [("bad-json", "alpha", b"{not json", secret, 400)] * 50
    wanted += [("bad-time", "beta", b'{"scheduled_time": "yesterday"}', secret, 400)] * 50
    wanted += [("too-large", "beta", b"x" * 5000, secret, 400)] * 50
    random.Random(7).shuffle(wanted)
    assert len(wanted) == 1000
    return wanted


def test_a_thousand_concurrent_puts_each_get_the_right_answer(
    server: TriggerServer, home: Home
) -> None:
    base = f"{server.url}/b/triggers"
    plan = requests(home.secret())
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    with httpx.Client(limits=limits, timeout=60) as client:

        def put(item: tuple[str, str, bytes, str, int]) -> httpx.Response:
            _, group, body, agent, _ = item
            return client.put(f"{base}/{group}", content=body, headers={"User-Agent": agent})

        with ThreadPoolExecutor(max_workers=200) as pool:
            answers = list(pool.map(put, plan))

    wrong = [
        (kind, expected, answer.status_code)
        for (kind, _, _, _, expected), answer in zip(plan, answers, strict=True)
        if answer.status_code != expected
    ]
    assert wrong == []
    # Each slot was opened once; its other PUTs were told they were duplicates.
    decisions = collections.Counter(
        answer.headers["x-cronbridge-decision"]
        for (kind, *_), answer in zip(plan, answers, strict=True)
        if kind == "slot"
    )
    assert decisions == {"opened": SLOTS, "duplicate": 500 - SLOTS}
    runs_by_slot = {
        answer.headers["x-cronbridge-run"]
        for (kind, *_), answer in zip(plan, answers, strict=True)
        if kind == "slot"
    }
    assert len(runs_by_slot) == SLOTS
    ledger = server.runtime.ledger
    assert {
        run.run_id for group in ("alpha", "beta") for run in ledger.list_runs(group, 100)
    } == runs_by_slot
    assert ledger.list_runs("gamma", 10) == []
    assert server.rejected == {
        "AccessDenied": 200,
        "NoSuchGroup": 100,
        "InvalidTrigger": 150,
        "EntityTooLarge": 50,
    }
    # Still up, and still right.
    assert httpx.put(f"{base}/alpha", headers={"User-Agent": home.secret()}).status_code == 200
    assert server.runtime.lambdas.wait_idle(WAIT)
