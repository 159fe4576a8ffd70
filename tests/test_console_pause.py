"""The console's pause and resume of a group, over real HTTP on loopback: the group page
says "paused until ...", and its buttons are guarded as the run page's are (the token,
the console's own page)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from bridge.domain.pause import GroupHead
from bridge.domain.runs import Run, RunState
from bridge.local.home import Home
from bridge.local.ledger import SqliteLedger
from bridge.local.registry import FileRegistry
from bridge.ui import Console
from tests.support.console_html import parse
from tests.support.console_world import register
from tests.test_console import browser, close_clients, consoles, page

__all__ = ["close_clients", "consoles"]  # fixtures, shared with the console's other tests

RUNNING = "g.m-00000000000000b2"


@pytest.fixture
def registry(home: Home) -> FileRegistry:
    """Group g, registered, with one run still running."""
    found = FileRegistry(home.state_dir)
    manifest = register(found, "g", {"a": 5})
    ledger = SqliteLedger(home.ledger_path)
    try:
        now = datetime.now(UTC)
        run = Run(RUNNING, "g", manifest.version, RunState.RUNNING, 5, now, now)
        ledger.open_run(run, previous=None, cancel=None)
    finally:
        ledger.close()
    return found


def run_state(home: Home) -> RunState:
    ledger = SqliteLedger(home.ledger_path)
    try:
        run = ledger.get_run(RUNNING)
    finally:
        ledger.close()
    assert run is not None
    return run.state


def test_pause_and_resume_buttons_need_the_token_and_the_console_s_own_page(
    home: Home, registry: FileRegistry, consoles: Callable[..., Console]
) -> None:
    console = consoles(home)
    client = browser(console)
    dom = page(client, "/groups/g")
    assert dom.has_id("pause-form") and not dom.has_id("resume-form")
    assert not dom.has_id("group-paused")
    form = dom.by_id("pause-form")
    assert form.find_all("input", name="token", type="hidden")

    pause = "/groups/g/pause"
    refused = [
        client.post(pause),  # no token
        client.post(pause, data={"token": "nope"}),
        client.post(
            pause, data={"token": console.token}, headers={"Origin": "http://evil.example"}
        ),
        client.post(pause, data={"token": console.token}, headers={"Sec-Fetch-Site": "cross-site"}),
        httpx.post(f"{console.url}{pause}", data={"token": console.token}),  # no cookie
    ]
    assert [answer.status_code for answer in refused] == [403] * 5
    assert registry.head("g") == GroupHead(1)

    done = client.post(
        pause,
        data={"token": console.token, "until": "2h", "cancel_running": "on"},
        headers={"Origin": console.url, "Sec-Fetch-Site": "same-origin"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/groups/g"
    head = registry.head("g")
    assert head is not None and head.pause is not None and head.pause.until is not None
    assert run_state(home) is RunState.CANCELLED  # through the same cancel as `runs cancel`
    dom = page(client, "/groups/g")
    assert dom.by_id("group-paused").text.startswith("paused until ")
    assert dom.has_id("resume-form") and not dom.has_id("pause-form")

    resume = "/groups/g/resume"
    crossed = client.post(
        resume, data={"token": console.token}, headers={"Origin": "http://evil.example"}
    )
    assert crossed.status_code == 403
    assert registry.head("g") == head
    resumed = client.post(resume, headers={"X-Cronbridge-Token": console.token})
    assert resumed.status_code == 303
    assert registry.head("g") == GroupHead(1)
    assert not page(client, "/groups/g").has_id("group-paused")


def test_a_bad_until_or_an_unknown_group_changes_nothing(
    home: Home, registry: FileRegistry, consoles: Callable[..., Console]
) -> None:
    console = consoles(home)
    client = browser(console)
    for until in ("soon", "2000-01-01T00:00:00Z"):
        answer = client.post("/groups/g/pause", data={"token": console.token, "until": until})
        assert answer.status_code == 409
        assert parse(answer.text).find_all("h1")[0].text == "cannot pause"
    assert registry.head("g") == GroupHead(1)
    assert run_state(home) is RunState.RUNNING
    unknown = client.post("/groups/nope/pause", data={"token": console.token})
    assert unknown.status_code == 404
    other = client.post("/groups/g/frobnicate", data={"token": console.token})
    assert other.status_code == 404
    assert registry.list_groups() == ["g"]
