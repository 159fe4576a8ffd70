"""The web console (`cronbridge ui`, and the one `serve` hosts), over real HTTP on
loopback: its token and cookie, changes that need the token and come from its own page,
pages that page and filter on the server, 404s, escaping, a backend that fails and
recovers, and the same pages read through the AWS adapters of a sandbox."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from bridge.cli.app import run_app
from bridge.cli.backend import Backend, open_backend
from bridge.domain.pause import Pause
from bridge.domain.runs import Run, RunState
from bridge.domain.schedules import parse_schedule
from bridge.exceptions import Unavailable
from bridge.local.home import Home
from bridge.local.ledger import SqliteLedger
from bridge.local.registry import FileRegistry
from bridge.ui import Console, start_console
from bridge.ui.app import COOKIE, backend_failure
from tests.conftest import write_jobs
from tests.e2e.conftest import DEADLINE, Serve, cli_env, launch
from tests.e2e.test_aws_cli import SandboxProcess
from tests.support.console_html import Element, parse
from tests.support.console_world import failing_every, many_runs, register, run_with_results

XSS = "<script>alert(1)</script>"
RUN = "g.m-00000000000000a1"


@pytest.fixture
def consoles() -> Iterator[Callable[..., Console]]:
    """Starts consoles on free ports; stops every one after the test."""
    started: list[Console] = []

    def start(home: Home, **options: Any) -> Console:
        console = start_console(options.pop("backend", "local"), home, port=0, **options)
        started.append(console)
        return console

    yield start
    for console in started:
        console.stop()


_clients: list[httpx.Client] = []


def new_client(**options: Any) -> httpx.Client:
    made = httpx.Client(timeout=DEADLINE, **options)
    _clients.append(made)
    return made


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def browser(console: Console) -> httpx.Client:
    """A client that opened the URL the command printed: it holds the cookie."""
    client = new_client(base_url=console.url)
    answer = client.get(console.login_url)
    assert answer.status_code == 303, answer.text
    return client


def page(client: httpx.Client, path: str, status: int = 200) -> Element:
    answer = client.get(path)
    assert answer.status_code == status, (path, answer.status_code, answer.text[:2000])
    assert answer.headers["content-type"].startswith("text/html")
    dom = parse(answer.text)
    assert dom.find_all("main"), f"{path} has no <main>"
    return dom


@pytest.fixture
def world(home: Home) -> tuple[Home, Run]:
    """Group g (lists a: 60, b: 90 jobs): run RUN ended failed, every 10th job failed with
    an error whose first line holds a <script> tag."""
    registry = FileRegistry(home.state_dir)
    manifest = register(registry, "g", {"a": 60, "b": 90})
    ledger = SqliteLedger(home.ledger_path)
    try:
        run = run_with_results(
            ledger, manifest, RUN, failing_every(10, f"ValueError: {XSS}\n  in line 2")
        )
    finally:
        ledger.close()
    return home, run


@pytest.fixture
def client(world: tuple[Home, Run], consoles: Callable[..., Console]) -> httpx.Client:
    """A browser logged in to a console of `world`."""
    return browser(consoles(world[0]))


# -- the token and the cookie ---------------------------------------------------------


def test_pages_need_the_token_once_and_then_the_cookie(
    world: tuple[Home, Run], consoles: Callable[..., Console]
) -> None:
    home, _ = world
    console = consoles(home)
    assert console.login_url == f"{console.url}/?token={console.token}"
    anonymous = new_client(base_url=console.url)
    for path in (
        "/",
        "/groups/g",
        f"/runs/{RUN}",
        f"/runs/{RUN}/live",
        f"/runs/{RUN}/jobs/a-00000",
    ):
        refused = anonymous.get(path)
        assert refused.status_code == 403
        assert "printed" in refused.text and console.token not in refused.text
    assert anonymous.get("/?token=not-the-token").status_code == 403
    wrong = httpx.get(f"{console.url}/", headers={"Cookie": f"{COOKIE}=not-the-token"})
    assert wrong.status_code == 403
    # Static assets need nothing: the 403 page itself uses them.
    assert anonymous.get("/static/htmx.min.js").status_code == 200
    assert anonymous.get("/static/uPlot.iife.min.js").status_code == 200

    login = anonymous.get(f"/groups/g?page=1&token={console.token}")
    assert login.status_code == 303
    assert login.headers["location"] == "/groups/g?page=1"
    cookie = login.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={console.token};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Path=/" in cookie
    elsewhere = raw_location(console, f"//evil.example/?token={console.token}")
    assert not (elsewhere or "/").startswith("//")  # never to another site
    shown = anonymous.get("/")  # the cookie is now in the client's jar
    # Not framed by another site; and not "no-referrer", with which Chromium sends
    # "Origin: null" on the console's own forms (refused as cross-site).
    assert "frame-ancestors 'none'" in shown.headers["content-security-policy"]
    assert shown.headers["referrer-policy"] == "same-origin"
    dom = page(anonymous, "/")
    row = dom.by_id("groups").find_all("tr", data_group="g")
    assert len(row) == 1
    assert "python:publishers.examples:echo" in row[0].text
    assert "a (60), b (90)" in row[0].text and "150" in row[0].text
    assert "failed" in row[0].text  # the last run's state


def raw_location(console: Console, raw_path: str) -> str | None:
    """Where a GET of `raw_path`, sent exactly as written, is redirected to."""
    parts = urlsplit(console.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=DEADLINE)
    try:
        conn.request("GET", raw_path)
        return conn.getresponse().getheader("location")
    finally:
        conn.close()


def test_the_console_package_exports_what_its_users_need() -> None:
    import bridge.ui

    assert sorted(bridge.ui.__all__) == ["Console", "start_console"]


# -- pages ------------------------------------------------------------------------------


def test_groups_show_their_schedule_next_slot_and_pause(
    home: Home, consoles: Callable[..., Console]
) -> None:
    registry = FileRegistry(home.state_dir)
    schedule = parse_schedule("0 3 * * *", "Europe/London")
    register(registry, "s", {"a": 2}, schedule=schedule)
    register(registry, "u", {"a": 2})
    registry.set_pause("s", Pause(since=datetime(2026, 1, 1, tzinfo=UTC)))
    client = browser(consoles(home))

    groups = page(client, "/")
    (scheduled,) = groups.by_id("groups").find_all("tr", data_group="s")
    (cell,) = scheduled.find_all("td", class_="schedule")
    assert "0 3 * * *" in cell.text and "Europe/London" in cell.text
    assert "paused since 2026-01-01" in cell.text
    (upcoming,) = scheduled.find_all("td", class_="next-slot")
    slot = datetime.fromisoformat(upcoming.text.strip())
    assert slot > datetime.now(UTC) and slot.astimezone(ZoneInfo("Europe/London")).hour == 3
    (plain,) = groups.by_id("groups").find_all("tr", data_group="u")
    assert plain.find_all("td", class_="schedule")[0].text.strip() == "none"
    assert plain.find_all("td", class_="next-slot")[0].text.strip() == ""

    group = page(client, "/groups/s")
    assert "0 3 * * *" in group.by_id("group-schedule").text
    assert upcoming.text.strip() in group.by_id("group-schedule").text
    assert group.has_id("group-paused")


def test_missed_and_late_runs_are_shown_as_such(
    home: Home, consoles: Callable[..., Console]
) -> None:
    registry = FileRegistry(home.state_dir)
    register(registry, "s", {"a": 2}, schedule=parse_schedule("0 * * * *"))
    slot = datetime(2026, 11, 22, 3, tzinfo=UTC)
    missed = Run(
        "s.20261122T030000Z",
        "s",
        1,
        RunState.MISSED,
        2,
        slot,
        slot,
        scheduled=True,
        reason="no trigger came within slot_tolerance 5m",
        finished_at=slot,
    )
    later = slot.replace(hour=4)
    late = Run(
        "s.20261122T040000Z",
        "s",
        1,
        RunState.RUNNING,
        2,
        later,
        later,
        scheduled=True,
        reason="late: triggered 1h 2m after its slot (slot_tolerance 5m)",
    )
    ledger = SqliteLedger(home.ledger_path)
    try:
        ledger.record_missed(missed)
        ledger.open_run(late, previous=None, cancel=None)
    finally:
        ledger.close()
    client = browser(consoles(home))
    group = page(client, "/groups/s")
    labels = {
        s.text.strip()
        for s in group.find_all("span")
        if "state" in (s.attrs.get("class") or "").split()
    }
    assert {"missed", "running (late)"} <= labels
    run = page(client, f"/runs/{missed.run_id}")
    assert run.by_id("run-state").text.strip() == "missed"
    assert "no trigger came within slot_tolerance 5m" in run.text
    assert not run.find_all("button", name="action", value="redrive")


def test_a_group_page_lists_its_runs_newest_first_fifty_a_page(
    home: Home, consoles: Callable[..., Console]
) -> None:
    registry = FileRegistry(home.state_dir)
    register(registry, "g", {"a": 5})
    manifest = register(registry, "g", {"a": 10})
    ledger = SqliteLedger(home.ledger_path)
    ids = many_runs(ledger, manifest, 120)
    ledger.close()
    client = browser(consoles(home))

    first = page(client, "/groups/g")
    rows = first.by_id("runs").find_all("tr", data_run=None)
    assert [r.attrs["data-run"] for r in rows] == ids[::-1][:50]
    assert rows[0].find_all("a", href=f"/runs/{ids[-1]}")
    assert first.find_all("a", rel="next") and not first.find_all("a", rel="prev")
    chart = json.loads(first.by_id("durations-data").text)
    assert len(chart["opened"]) == len(chart["seconds"]) == len(chart["failed"]) == 100
    assert chart["opened"] == sorted(chart["opened"])
    assert first.has_id("durations-chart")
    versions = first.by_id("versions").find_all("tr", data_version=None)
    assert [v.attrs["data-version"] for v in versions] == ["2", "1"]

    last = page(client, first.find_all("a", rel="next")[0].attrs["href"].replace("2", "3"))
    rows = last.by_id("runs").find_all("tr", data_run=None)
    assert [r.attrs["data-run"] for r in rows] == ids[::-1][100:]
    assert last.find_all("a", rel="prev") and not last.find_all("a", rel="next")


def test_a_run_page_shows_counters_lists_and_its_failed_jobs_paged(client: httpx.Client) -> None:
    dom = page(client, f"/runs/{RUN}")
    live = dom.by_id("run-live")
    assert live.by_id("run-state").text == "failed"
    assert "hx-trigger" not in live.attrs  # ended: the region no longer polls
    counts = {name: live.by_id(f"count-{name}").text for name in ("total", "succeeded", "failed")}
    assert counts == {"total": "150", "succeeded": "135", "failed": "15"}
    assert live.by_id("count-lost").text == "0" and live.by_id("count-dispatched").text == "150"
    bars = {b.attrs["data-list"]: b for b in live.find_all("progress", class_="list-progress")}
    assert {n: (b.attrs["value"], b.attrs["max"]) for n, b in bars.items()} == {
        "a": ("60", "60"),
        "b": ("90", "90"),
    }
    rate = json.loads(live.by_id("rate-data").text)
    assert sum(rate["per_second"]) > 0 and len(rate["at"]) == len(rate["per_second"])
    assert live.has_id("rate-chart")
    assert dom.by_id("run-source").text == "manual"
    # Failed jobs: rows with a link and the error's first line.
    rows = live.by_id("failed-jobs").find_all("tr", data_job=None)
    assert len(rows) == 15
    assert rows[0].attrs["data-job"] == "a-00000"
    assert rows[0].find_all("a", href=f"/runs/{RUN}/jobs/a-00000")
    assert rows[0].find_all("td", class_="error-line")[0].text == f"ValueError: {XSS}"
    # Only redrive applies to a failed run; its form carries the token.
    assert live.has_id("redrive-form") and live.has_id("redrive")
    form = live.by_id("redrive-form")
    assert form.attrs["action"] == f"/runs/{RUN}/redrive" and form.attrs["method"] == "post"
    assert form.find_all("input", name="token", type="hidden")
    assert not live.has_id("cancel-form") and not live.has_id("resume-form")

    only_b = page(client, f"/runs/{RUN}?list=b").by_id("failed-jobs")
    assert [r.attrs["data-job"] for r in only_b.find_all("tr", data_job=None)] == [
        f"b-{i:05d}" for i in range(0, 90, 10) if (60 + i) % 10 == 0
    ]
    lost = page(client, f"/runs/{RUN}?status=lost").by_id("failed-jobs")
    assert lost.find_all("tr", data_job=None) == []
    # The fragment htmx polls is the same region.
    fragment = client.get(f"/runs/{RUN}/live?list=a")
    assert fragment.status_code == 200
    region = parse(fragment.text).by_id("run-live")
    assert len(region.find_all("tr", data_job=None)) == 6


def test_failed_jobs_are_paged_fifty_at_a_time(
    home: Home, consoles: Callable[..., Console]
) -> None:
    manifest = register(FileRegistry(home.state_dir), "g", {"a": 1200})
    ledger = SqliteLedger(home.ledger_path)
    run_with_results(ledger, manifest, RUN, failing_every(10))  # 120 failed
    ledger.close()
    client = browser(consoles(home))
    seen: list[str] = []
    path: str | None = f"/runs/{RUN}"
    while path is not None:
        dom = page(client, path)
        rows = dom.by_id("failed-jobs").find_all("tr", data_job=None)
        assert len(rows) == (50 if len(seen) < 100 else 20)
        seen += [r.attrs["data-job"] for r in rows]
        following = dom.find_all("a", rel="next")
        path = following[0].attrs["href"] if following else None
    assert seen == [f"a-{i:05d}" for i in range(0, 1200, 10)]
    assert page(client, f"/runs/{RUN}?page=3").find_all("a", rel="prev")
    jobs = page(client, f"/runs/{RUN}/jobs?status=succeeded&page=2").by_id("jobs")
    assert len(jobs.find_all("tr", data_job=None)) == 50


def test_a_run_is_named_as_the_cli_names_it(client: httpx.Client) -> None:
    for name in ("g@latest", RUN[:8]):
        moved = client.get(f"/runs/{name}")
        assert moved.status_code == 303 and moved.headers["location"] == f"/runs/{RUN}"


def test_a_job_page_shows_envelope_error_and_return_value(client: httpx.Client) -> None:
    failed = page(client, f"/runs/{RUN}/jobs/a-00010")
    envelope = json.loads(failed.by_id("job-envelope").text)
    assert envelope["cronbridge"]["job"] == "a-00010" and envelope["payload"] == {"n": 10}
    assert envelope["cronbridge"]["run"] == RUN
    assert failed.by_id("job-error").text == f"ValueError: {XSS}\n  in line 2"
    assert failed.by_id("job-tries").text == "1"
    assert failed.by_id("job-duration").text == "12 ms"
    succeeded = page(client, f"/runs/{RUN}/jobs/a-00011")
    assert succeeded.by_id("job-result").text == '"ok"'
    assert succeeded.by_id("job-error").text == ""


def test_unknown_groups_runs_and_jobs_are_404_pages(client: httpx.Client) -> None:
    for path, said in (
        ("/groups/nope", "no group 'nope'"),
        ("/groups/Not%20A%20Name", "is registered or has runs"),
        ("/runs/nope.m-0000", "is not in the ledger"),
        ("/runs/nope@latest", "has no runs"),
        (f"/runs/{RUN}/jobs/zz-99999", "has no result for job 'zz-99999'"),
        ("/no/such/page", "no such page"),
    ):
        answer = client.get(path)
        assert answer.status_code == 404, (path, answer.text)
        assert said in parse(answer.text).find_all("main")[0].text
        assert "Traceback" not in answer.text


def test_what_a_worker_wrote_is_shown_as_text(client: httpx.Client) -> None:
    for path in (f"/runs/{RUN}", f"/runs/{RUN}/live", f"/runs/{RUN}/jobs/a-00000"):
        text = client.get(path).text
        assert XSS not in text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path


def test_the_user_agent_secret_is_on_no_page(
    world: tuple[Home, Run], consoles: Callable[..., Console]
) -> None:
    home, _ = world
    secret = home.secret()
    console = consoles(home)
    client = browser(console)
    answers = [
        client.get(path)
        for path in (
            "/",
            "/groups/g",
            f"/runs/{RUN}",
            f"/runs/{RUN}/live",
            f"/runs/{RUN}/jobs",
            f"/runs/{RUN}/jobs/a-00000",
            "/groups/nope",
            "/static/console.js",
        )
    ]
    answers.append(httpx.get(f"{console.url}/"))  # the 403 page
    answers.append(client.post(f"/runs/{RUN}/redrive", data={"token": "wrong"}))
    answers.append(client.post(f"/runs/{RUN}/cancel", data={"token": console.token}))  # 409
    for answer in answers:
        assert secret not in answer.text
        assert all(secret not in value for value in answer.headers.values())


# -- changes ----------------------------------------------------------------------------


def register_with_serve(serve: Serve, tmp_path: Path, name: str, target: str, jobs: int) -> None:
    lines = [{"id": f"j-{i:03d}", "payload": {"fragile": i % 3 == 0}} for i in range(jobs)]
    done = serve.cli(
        "groups",
        "register",
        name,
        "--target",
        target,
        "--list",
        f"a={write_jobs(tmp_path / f'{name}.jsonl', lines)}",
        "--overlap",
        "allow",
        "--max-attempts",
        "1",  # a failed job fails at once: no retries to wait for
    )
    assert done.returncode == 0, done.stderr


def trigger(serve: Serve, name: str) -> str:
    done = serve.cli("trigger", name, "--json")
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["run"])


def test_changes_need_the_token_and_the_console_s_own_page(
    tmp_path: Path, consoles: Callable[..., Console]
) -> None:
    serve = Serve(tmp_path)
    try:
        (serve.evidence / "broken").touch()
        register_with_serve(serve, tmp_path, "g", "python:sample_workers:fail_while_broken", 9)
        failed = serve.wait_for_run(trigger(serve, "g"))
        assert failed.state is RunState.FAILED and failed.failed == 3
        console = consoles(serve.home)
        client = browser(console)
        redrive = f"/runs/{failed.run_id}/redrive"
        refused = [
            client.post(redrive),  # no token
            client.post(redrive, data={"token": "nope"}),
            client.post(
                redrive, data={"token": console.token}, headers={"Origin": "http://evil.example"}
            ),
            client.post(
                redrive, data={"token": console.token}, headers={"Sec-Fetch-Site": "cross-site"}
            ),
            httpx.post(f"{console.url}{redrive}", data={"token": console.token}),  # no cookie
        ]
        assert [answer.status_code for answer in refused] == [403] * 5
        unchanged = serve.ledger.get_run(failed.run_id)
        assert unchanged is not None
        assert (unchanged.state, unchanged.attempt) == (RunState.FAILED, 1)

        (serve.evidence / "broken").unlink()
        done = client.post(
            redrive,
            data={"token": console.token},
            headers={"Origin": console.url, "Sec-Fetch-Site": "same-origin"},
        )
        assert done.status_code == 303 and done.headers["location"] == f"/runs/{failed.run_id}"
        redriven = serve.wait_for_run(failed.run_id, lambda r: r.attempt == 2 and r.state.finished)
        assert redriven.state is RunState.SUCCEEDED
        # The header works as well as the form field.
        again = client.post(redrive, headers={"X-Cronbridge-Token": console.token})
        assert again.status_code == 409  # every job succeeded: nothing to redrive
        assert parse(again.text).find_all("h1")[0].text == "cannot redrive"

        # A running run: cancel, then resume; the live region polls while it runs.
        register_with_serve(serve, tmp_path, "h", "python:sample_workers:wait_for_gate", 3)
        running = trigger(serve, "h")
        live = parse(client.get(f"/runs/{running}/live").text).by_id("run-live")
        assert live.attrs["hx-trigger"] == "every 1s"
        assert live.by_id("run-state").text == "running"
        assert live.has_id("cancel-form") and live.has_id("resume-form")
        assert not live.has_id("redrive-form")
        cancel = client.post(f"/runs/{running}/cancel", data={"token": console.token})
        assert cancel.status_code == 303
        cancelled = serve.ledger.get_run(running)
        assert cancelled is not None and cancelled.state is RunState.CANCELLED
        dom = page(client, f"/runs/{running}")
        assert dom.by_id("run-state").text == "cancelled"
        assert dom.has_id("resume-form") and not dom.has_id("cancel-form")

        # serve stopped: the resume cannot start publishers; the page says so and
        # nothing changes.
        serve.stop()
        down = client.post(f"/runs/{running}/resume", data={"token": console.token})
        assert down.status_code == 503
        message = parse(down.text).by_id("backend-error")
        assert message.attrs["role"] == "alert"
        assert "no local runtime answers" in message.text and "cronbridge serve" in message.text
        still = SqliteLedger(serve.home.ledger_path)
        try:
            found = still.get_run(running)
        finally:
            still.close()
        assert found is not None and found.state is RunState.CANCELLED
        assert not page(client, f"/runs/{running}").has_id("backend-error")
    finally:
        serve.stop()


# -- a backend that fails ---------------------------------------------------------------


def test_an_unreadable_ledger_is_one_message_and_the_console_recovers(
    world: tuple[Home, Run], consoles: Callable[..., Console]
) -> None:
    home, _ = world
    aside = home.ledger_path.with_name("aside")
    home.ledger_path.rename(aside)
    home.ledger_path.mkdir()  # a folder where the ledger file should be
    client = browser(consoles(home))
    for path in ("/", f"/runs/{RUN}"):
        failed = page(client, path, status=503)
        assert "the local ledger cannot be read" in failed.by_id("backend-error").text
    fragment = client.get(f"/runs/{RUN}/live")
    assert fragment.status_code == 200  # htmx swaps it in, and keeps asking
    region = parse(fragment.text).by_id("run-live")
    assert region.attrs["hx-trigger"] == "every 1s" and region.has_id("backend-error")

    home.ledger_path.rmdir()
    aside.rename(home.ledger_path)
    dom = page(client, f"/runs/{RUN}")
    assert not dom.has_id("backend-error") and dom.by_id("run-state").text == "failed"


def test_a_backend_that_fails_mid_session_is_opened_again(
    world: tuple[Home, Run], consoles: Callable[..., Console]
) -> None:
    home, _ = world
    opened: list[Backend] = []
    refuse = {"now": False}

    def opener(name: str | None, where: Home) -> Backend:
        if refuse["now"]:
            raise Unavailable("the AWS session has expired", hint="sign in again")
        opened.append(open_backend(name, where))
        return opened[-1]

    client = browser(consoles(home, opener=opener))
    page(client, "/")
    page(client, "/groups/g")
    assert len(opened) == 1  # kept while it answers
    groups = home.state_dir / "groups"
    groups.rename(home.state_dir / "aside")
    groups.write_text("not a folder")
    failed = page(client, "/", status=503)
    assert "the local state cannot be read" in failed.by_id("backend-error").text
    refuse["now"] = True  # the next open fails too: that is said, and not kept
    said = page(client, "/", status=503).by_id("backend-error").text
    assert said == "the AWS session has expired (sign in again)"
    refuse["now"] = False
    groups.unlink()
    (home.state_dir / "aside").rename(groups)
    dom = page(client, "/")
    assert not dom.has_id("backend-error") and dom.by_id("groups").find_all("tr", data_group="g")
    assert len(opened) == 2


def test_aws_errors_say_what_to_do() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    expired = ClientError(
        {"Error": {"Code": "ExpiredTokenException", "Message": "The security token expired"}},
        "Query",
    )
    said = backend_failure(expired)
    assert said is not None and "ExpiredTokenException" in said and "expired" in said
    assert "sign in" in (backend_failure(NoCredentialsError()) or "")
    unreachable = EndpointConnectionError(endpoint_url="https://dynamodb.example")
    assert "cannot be reached" in (backend_failure(unreachable) or "")
    assert backend_failure(ValueError("a bug")) is None


# -- the commands -----------------------------------------------------------------------


def test_ui_refuses_a_remote_host_without_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["ui", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "would make the console reachable from the network" in err
    assert "--allow-remote" in err and err.count("error:") == 1
    assert run_app(["ui", "--port", "70000"]) == 2
    assert "--port must be a port number" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_cleanly(proc: subprocess.Popen[str], stderr: list[str]) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=DEADLINE) == 0, "".join(stderr)
    time.sleep(0.2)  # the reader threads take the last lines, then see the end
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()
    assert "Traceback" not in "".join(stderr)


def test_serve_hosts_the_console_and_prints_its_url(tmp_path: Path) -> None:
    port = free_port()
    proc, banner, stderr = launch(
        ["serve", "--port", "0", "--workers", "2", "--ui-port", str(port)],
        cli_env(tmp_path),
        tmp_path,
        "console: ",
    )
    try:
        match = re.search(r"console: (http://\S+)", banner[-1] if banner else "")
        assert match is not None, (banner, stderr)
        assert banner[0].startswith("Listening on ")  # after serve's own lines
        assert match.group(1).startswith(f"http://127.0.0.1:{port}/?token=")
        client = new_client(follow_redirects=True)
        answer = client.get(match.group(1))
        assert parse(answer.text).by_id("groups") is not None
        assert Home.from_env().secret() not in answer.text
    finally:
        stop_cleanly(proc, stderr)


def test_ui_against_the_sandbox_reads_through_the_aws_adapters(tmp_path: Path) -> None:
    sandbox = SandboxProcess(tmp_path)
    try:
        jobs = write_jobs(tmp_path / "a.jsonl", [{"id": f"a-{i}", "payload": i} for i in range(4)])
        registered = sandbox.cli(
            "groups", "register", "g", "--target", "lambda:gated", "--list", f"a={jobs}"
        )
        assert registered.returncode == 0, registered.stderr
        fired = sandbox.cli("trigger", "g", "--json")
        assert fired.returncode == 0, fired.stderr
        run_id = json.loads(fired.stdout)["run"]
        proc, banner, stderr = launch(["ui", "--port", "0"], sandbox.env, tmp_path, "console: ")
        try:
            match = re.search(r"console: (http://\S+)", banner[-1] if banner else "")
            assert match is not None, (banner, stderr)
            assert [line for line in banner if line.strip()] == [banner[-1]]  # one line
            client = new_client(follow_redirects=True)
            groups = parse(client.get(match.group(1)).text)
            assert groups.by_id("groups").find_all("tr", data_group="g")
            base = match.group(1).split("/?token=")[0]
            group = parse(client.get(f"{base}/groups/g").text)
            assert [r.attrs["data-run"] for r in group.find_all("tr", data_run=None)] == [run_id]
            assert group.by_id("versions").find_all("tr", data_version="1")
            run = parse(client.get(f"{base}/runs/{run_id}").text)
            assert run.by_id("run-state").text == "running"
            assert run.by_id("count-total").text == "4"
            token = match.group(1).split("token=")[1]
            cancel = client.post(f"{base}/runs/{run_id}/cancel", data={"token": token})
            assert cancel.status_code == 200, cancel.text  # followed to the run page
            assert parse(cancel.text).by_id("run-state").text == "cancelled"
        finally:
            (sandbox.cwd / "evidence" / "gate").touch()
            stop_cleanly(proc, stderr)
    finally:
        sandbox.stop()
