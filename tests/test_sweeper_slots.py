"""Where missed slots are looked for (issue 13, item 2): the sweeper Lambda's handler on
moto, every minute on AWS, and `serve`'s sweep loop locally. The clock is injected."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.aws.runtime import AwsRuntime
from bridge.domain.alerts import Alert, DestinationKind, new_secret
from bridge.domain.controls import Controls
from bridge.domain.events import EventKind
from bridge.domain.pause import PAUSED, Pause
from bridge.domain.runs import RunState
from bridge.domain.schedules import parse_schedule
from bridge.domain.triggers import slot_run_id
from bridge.lambdas import sweeper
from bridge.local.home import Home
from bridge.local.runtime import LocalRuntime
from bridge.ports import Clock, Registry
from bridge.usecases.register import ListSource, register_group
from tests.alert_receiver import expect_signature, receiver
from tests.aws_world import make_account
from tests.conftest import FakeClock, numbered_jobs, write_jobs

REGISTERED = datetime(2026, 11, 22, 0, 30, tzinfo=UTC)
SLOT = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)


def register_hourly(registry: Registry, clock: Clock, tmp: Path) -> None:
    path = write_jobs(tmp / "a.jsonl", numbered_jobs("a", 2))
    register_group(
        "hourly",
        "lambda:worker",
        [ListSource.from_path("a", path)],
        Controls(),
        registry=registry,
        clock=clock,
        check_target=lambda target, controls: None,
        schedule=parse_schedule("0 * * * *"),
    )


@pytest.fixture
def account(aws: None, tmp_path: Path) -> Iterator[AwsRuntime]:
    runtime = make_account(FakeClock(REGISTERED))
    register_hourly(runtime.registry, runtime.clock, tmp_path)
    yield runtime
    runtime.invoker.close()


def metrics(caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    for record in caplog.records:
        if record.getMessage() == "metrics":
            return dict(record.__dict__)
    raise AssertionError("no metrics line was logged")


def test_the_sweeper_records_a_missed_slot_and_reports_it(
    account: AwsRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(account.clock, FakeClock)
    account.clock.current = SLOT + timedelta(minutes=6)
    with caplog.at_level(logging.INFO):
        answer = sweeper.make_handler(lambda: account)({}, None)
    assert answer == {"overdue": 0, "lost": 0, "missed": 1, "alerts": 0}
    run = account.ledger.get_run(slot_run_id("hourly", SLOT))
    assert run is not None and run.state is RunState.MISSED
    assert metrics(caplog)["MissedSlots"] == 1
    assert sweeper.make_handler(lambda: account)({}, None)["missed"] == 0  # once


def test_a_failing_step_does_not_keep_the_others_from_running(
    account: AwsRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(account.clock, FakeClock)
    account.clock.current = SLOT + timedelta(minutes=6)

    def broken(**kwargs: Any) -> Any:
        raise ConnectionError("injected: the ledger did not answer")

    monkeypatch.setattr(sweeper, "sweep_runs", broken)
    with pytest.raises(ConnectionError):  # the invocation still counts as an error
        sweeper.make_handler(lambda: account)({}, None)
    run = account.ledger.get_run(slot_run_id("hourly", SLOT))
    assert run is not None and run.state is RunState.MISSED


def test_serve_records_missed_slots_in_its_sweep_loop(home: Home, tmp_path: Path) -> None:
    clock = FakeClock(REGISTERED)
    runtime = LocalRuntime(home, workers=2, retry_delay=0.01, clock=clock)
    try:
        register_hourly(runtime.registry, clock, tmp_path)
        clock.current = SLOT + timedelta(minutes=6)
        runtime.start_sweeper(interval=0.02)
        run_id = slot_run_id("hourly", SLOT)
        for _ in range(500):  # until the loop has been round once (not a time assertion)
            run = runtime.ledger.get_run(run_id)
            if run is not None:
                break
            runtime._sweeping.wait(0.02)
        assert run is not None and run.state is RunState.MISSED
    finally:
        runtime.close()


def webhook_alert(url: str, *kinds: EventKind) -> Alert:
    return Alert(
        id="a-1f2e3d4c",
        group=None,
        events=frozenset(kinds),
        kind=DestinationKind.WEBHOOK,
        destination=url,
        created_at=REGISTERED,
        secret=new_secret(),
    )


def test_a_missed_slot_is_alerted_once_from_the_sweeper(account: AwsRuntime) -> None:
    assert isinstance(account.clock, FakeClock)
    handler = sweeper.make_handler(lambda: account)
    with receiver() as hook:
        alert = webhook_alert(hook.url, EventKind.MISSED, EventKind.FAILED)
        account.registry.put_alert(alert)
        account.clock.current = SLOT + timedelta(minutes=6)
        assert handler({}, None)["alerts"] == 1
        account.clock.advance(60)
        assert handler({}, None)["alerts"] == 0  # once: the next sweeps send nothing
        account.clock.advance(3600)  # the 02:00 slot is missed too: its own alert
        assert handler({}, None)["alerts"] == 1
        posts = hook.received()
    assert [json.loads(p.body)["run"] for p in posts] == [
        slot_run_id("hourly", SLOT),
        slot_run_id("hourly", SLOT + timedelta(hours=1)),
    ]
    first = json.loads(posts[0].body)
    assert (first["kind"], first["group"], first["state"]) == ("missed", "hourly", "missed")
    expect_signature(alert.secret or "", posts[0], SLOT + timedelta(minutes=6))


def test_serve_alerts_a_missed_slot_once_and_a_paused_group_not_at_all(
    home: Home, tmp_path: Path
) -> None:
    clock = FakeClock(REGISTERED)
    runtime = LocalRuntime(home, workers=2, retry_delay=0.01, clock=clock)
    try:
        register_hourly(runtime.registry, clock, tmp_path)
        with receiver() as hook:
            runtime.registry.put_alert(webhook_alert(hook.url, EventKind.MISSED))
            clock.current = SLOT + timedelta(minutes=6)
            for _ in range(2):
                runtime.check_slots()
                runtime.deliver_alerts()
            runtime.registry.set_pause("hourly", Pause(clock.now()))
            clock.advance(3600)
            runtime.check_slots()
            runtime.deliver_alerts()
            posts = hook.received()
        assert [json.loads(p.body)["run"] for p in posts] == [slot_run_id("hourly", SLOT)]
        paused = runtime.ledger.get_run(slot_run_id("hourly", SLOT + timedelta(hours=1)))
        assert paused is not None and (paused.state, paused.reason) == (RunState.SKIPPED, PAUSED)
    finally:
        runtime.close()
