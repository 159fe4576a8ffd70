"""Alerts (issue 13 item 3): the rules, the signed payload, and delivery from the outbox
with retries and backoff, against a fake sender, a real loopback webhook and SNS on moto."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from bridge.aws.ledger import DynamoLedger, table_definition
from bridge.domain.alerts import (
    MAX_TRIES,
    SIGNATURE_HEADER,
    Alert,
    AlertNotFound,
    DestinationKind,
    build_payload,
    encode_payload,
    new_alert_id,
    new_secret,
    parse_events,
    parse_sns_topic,
    parse_webhook_url,
    retry_delay,
    sign,
    validate_alert_id,
    verify_signature,
)
from bridge.domain.events import EventKind, JobError, PendingEvent, RunEvent
from bridge.domain.runs import Run, RunState
from bridge.domain.tally import Tally
from bridge.exceptions import InvalidInput
from bridge.local.home import Home
from bridge.local.ledger import SqliteLedger
from bridge.local.registry import FileRegistry
from bridge.logs import JsonFormatter
from bridge.usecases import alerts as delivery
from bridge.usecases.alerts import (
    DeliveryReport,
    Senders,
    SendResult,
    SnsSender,
    WebhookSender,
    deliver_alerts,
)
from tests.alert_receiver import closed_port, expect_signature, receiver
from tests.conftest import FakeClock

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
CONSOLE = "http://127.0.0.1:8790"


# -- doubles -------------------------------------------------------------------------------
class OutboxLedger:
    """The four outbox methods and get_run of the Ledger port, in memory."""

    def __init__(self, runs: Sequence[Run] = ()) -> None:
        self.runs = {run.run_id: run for run in runs}
        self.outbox: dict[str, PendingEvent] = {}
        self.keys: set[str] = set()
        self.dropped: list[str] = []

    def note_event(self, event: RunEvent) -> bool:
        if event.key in self.keys:
            return False
        self.keys.add(event.key)
        self.outbox[event.key] = PendingEvent(event)
        return True

    def pending_events(self, now: datetime, limit: int) -> list[PendingEvent]:
        due = [p for p in self.outbox.values() if p.next_try is None or p.next_try <= now]
        return sorted(due, key=lambda p: p.event.at)[:limit]

    def retry_event(self, pending: PendingEvent) -> None:
        assert pending.event.key in self.outbox
        self.outbox[pending.event.key] = pending

    def drop_event(self, event: RunEvent) -> None:
        del self.outbox[event.key]
        self.dropped.append(event.key)

    def get_run(self, run_id: str) -> Run | None:
        return self.runs.get(run_id)


@dataclass
class Sent:
    alert: str
    destination: str
    payload: dict[str, Any]
    at: datetime


@dataclass
class ScriptedSender:
    """Answers each destination as told (ok unless listed), and records every send."""

    failing: dict[str, str] = field(default_factory=dict)
    raising: set[str] = field(default_factory=set)
    sent: list[Sent] = field(default_factory=list)
    #: each send takes this long on `clock`
    clock: FakeClock | None = None
    takes: float = 0.0

    def send(self, alert: Alert, payload: Mapping[str, Any], now: datetime) -> SendResult:
        self.sent.append(Sent(alert.id, alert.destination, dict(payload), now))
        if self.clock is not None:
            self.clock.advance(self.takes)
        if alert.destination in self.raising:
            raise RuntimeError("a bug in a sender")
        error = self.failing.get(alert.destination)
        if error is not None:
            return SendResult(False, 500, error)
        return SendResult(True, 200)


def webhook_alert(
    url: str = "https://hooks.example.com/a",
    *,
    on: str = "failed,lost",
    group: str | None = None,
    secret: str | None = None,
) -> Alert:
    return Alert(
        id=new_alert_id(),
        group=group,
        events=parse_events(on),
        kind=DestinationKind.WEBHOOK,
        destination=url,
        created_at=T0,
        secret=secret or new_secret(),
    )


def sns_alert(arn: str, on: str = "failed") -> Alert:
    return Alert(new_alert_id(), None, parse_events(on), DestinationKind.SNS, arn, T0)


def failed_run(run_id: str = "g.20261122T030000Z", group: str = "g") -> Run:
    return Run(
        run_id=run_id,
        group=group,
        version=1,
        state=RunState.FAILED,
        total=10,
        slot_time=T0,
        opened_at=T0,
        scheduled=True,
        succeeded=7,
        failed=2,
        lost=1,
        finished_at=T0 + timedelta(minutes=5),
    )


def event(
    kind: EventKind = EventKind.FAILED,
    run_id: str = "g.20261122T030000Z",
    group: str = "g",
    at: datetime = T0,
    errors: int = 2,
) -> RunEvent:
    return RunEvent(
        kind=kind,
        run_id=run_id,
        group=group,
        attempt=1,
        at=at,
        detail="2 failed, 1 lost",
        errors=tuple(JobError.of("a", f"a-{i}", f"boom {i}") for i in range(errors)),
    )


@pytest.fixture
def registry(home: Home) -> FileRegistry:
    return FileRegistry(home.state_dir)


def deliver(
    registry: FileRegistry, ledger: OutboxLedger, clock: FakeClock, sender: Any, **kw: Any
) -> DeliveryReport:
    senders = Senders(webhook=sender, sns=sender)
    return deliver_alerts(
        registry=registry, ledger=ledger, clock=clock, console_url=CONSOLE, senders=senders, **kw
    )


# -- the rule --------------------------------------------------------------------------------
def test_on_takes_known_events_and_names_the_valid_ones_otherwise() -> None:
    assert parse_events(" Failed,lost ") == {EventKind.FAILED, EventKind.LOST}
    assert parse_events("failed,late,missed,stuck,lost") == set(EventKind)
    with pytest.raises(InvalidInput) as caught:
        parse_events("failed,broken")
    assert "'broken'" in caught.value.message
    assert caught.value.hint is not None
    assert all(kind.value in caught.value.hint for kind in EventKind)
    for empty in ("", " , ", "failed,,lost"):
        with pytest.raises(InvalidInput):
            parse_events(empty)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/x",
        "file:///etc/passwd",
        "hooks.example.com/x",
        "https:///no-host",
        "https://host:99999/x",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/\nx",
        "javascript:alert(1)",
        "",
    ],
)
def test_a_webhook_url_that_is_not_http_with_a_host_is_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_webhook_url(url)
    assert caught.value.exit_code == 2 and caught.value.hint


def test_http_and_https_urls_are_taken_as_they_are() -> None:
    for url in ("http://127.0.0.1:8080/hook", "https://hooks.example.com/a?b=c#d"):
        assert parse_webhook_url(url) == url


def test_an_sns_destination_must_be_a_topic_arn() -> None:
    arn = "arn:aws:sns:eu-west-1:123456789012:cronbridge-alerts"
    assert parse_sns_topic(arn) == arn
    assert parse_sns_topic("arn:aws-us-gov:sns:us-gov-west-1:123456789012:t.fifo")
    for bad in (
        "arn:aws:sqs:eu-west-1:123456789012:q",
        "arn:aws:sns:eu-west-1:1234:t",
        "arn:aws:sns:eu-west-1:123456789012:",
        "cronbridge-alerts",
    ):
        with pytest.raises(InvalidInput):
            parse_sns_topic(bad)


def test_an_alert_matches_its_events_of_its_group_or_of_every_group() -> None:
    everywhere = webhook_alert(on="failed")
    only_g = webhook_alert(on="failed,missed", group="g")
    assert everywhere.matches(event(group="other"))
    assert not everywhere.matches(event(EventKind.LATE))
    assert only_g.matches(event(EventKind.MISSED, group="g"))
    assert not only_g.matches(event(group="other"))


def test_alert_ids_name_nothing_but_alerts() -> None:
    alert_id = new_alert_id()
    assert validate_alert_id(alert_id) == alert_id
    for bad in ("../../etc/passwd", "a-XYZ", "", "a-1234567"):
        with pytest.raises(AlertNotFound):
            validate_alert_id(bad)


def test_the_secret_is_stored_but_never_shown() -> None:
    alert = webhook_alert()
    assert alert.secret is not None and len(alert.secret) >= 43  # 32 random bytes
    assert alert.secret not in repr(alert)
    assert "secret" not in alert.to_dict()
    stored = alert.to_dict(with_secret=True)
    assert stored["secret"] == alert.secret
    assert Alert.from_dict(json.loads(json.dumps(stored))) == alert
    arn = sns_alert("arn:aws:sns:us-east-1:123456789012:t")
    assert Alert.from_dict(arn.to_dict(with_secret=True)) == arn


def test_a_webhook_is_shown_by_its_host_alone_where_logs_may_see_it() -> None:
    alert = webhook_alert("https://hooks.slack.com:8443/services/T0/B0/TOKEN?x=1")
    assert alert.shown_destination == "https://hooks.slack.com:8443/..."


def test_backoff_doubles_from_30_seconds_up_to_an_hour() -> None:
    assert [retry_delay(tries) for tries in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]


# -- payload and signature -----------------------------------------------------------------
def test_the_payload_names_the_run_its_counts_and_first_errors() -> None:
    alert = webhook_alert()
    payload = build_payload(
        event(errors=8), failed_run(), alert_id=alert.id, console_url=CONSOLE + "/"
    )
    assert payload == {
        "delivery": "g.20261122T030000Z#1#failed",
        "kind": "failed",
        "test": False,
        "alert": alert.id,
        "group": "g",
        "run": "g.20261122T030000Z",
        "attempt": 1,
        "slot": "2026-11-22T03:00:00.000Z",
        "scheduled": True,
        "state": "failed",
        "reason": "",
        "detail": "2 failed, 1 lost",
        "counts": {"total": 10, "succeeded": 7, "failed": 2, "lost": 1},
        "errors": [{"list": "a", "job": f"a-{i}", "error": f"boom {i}"} for i in range(5)],
        "link": "http://127.0.0.1:8790/runs/g.20261122T030000Z",
        "at": "2026-11-22T03:00:00.000Z",
    }


def test_a_run_the_ledger_does_not_have_still_alerts_with_what_the_event_says() -> None:
    payload = build_payload(event(EventKind.MISSED), None, alert_id="a-00000000", console_url="")
    assert (payload["state"], payload["slot"], payload["link"]) == (None, None, None)
    assert payload["counts"] == {"total": 0, "succeeded": 0, "failed": 0, "lost": 0}


def test_a_signature_verifies_with_its_secret_body_and_time_only() -> None:
    secret = new_secret()
    body = encode_payload({"kind": "failed", "run": "r"})
    now = T0.timestamp()
    header = sign(secret, body, int(now))
    assert header.startswith(f"t={int(now)},v1=")
    assert verify_signature(secret, header, body, now)
    assert verify_signature(secret, header, body.decode(), T0 + timedelta(seconds=300))
    assert not verify_signature(new_secret(), header, body, now)
    assert not verify_signature(secret, header, body + b" ", now)
    assert not verify_signature(secret, header, body, now + 301)  # a replay, later
    assert not verify_signature(secret, header, body, now - 301)
    forged = header.replace(f"t={int(now)}", f"t={int(now) + 1}")
    assert not verify_signature(secret, forged, body, now)
    for garbage in ("", "v1=abc", "t=x,v1=abc", f"t={int(now)}", "t=1,t=2,v1=a"):
        assert not verify_signature(secret, garbage, body, now)
    # a receiver rotating secrets may be sent several v1 values: any one will do
    old = sign(new_secret(), body, int(now)).split(",")[1]
    assert verify_signature(secret, f"{header},{old}", body, now)


# -- delivery --------------------------------------------------------------------------------
def test_each_event_goes_once_to_each_alert_that_wants_it(
    registry: FileRegistry, clock: FakeClock
) -> None:
    first = webhook_alert("https://one.example.com/h", on="failed")
    second = webhook_alert("https://two.example.com/h", on="failed,lost", group="g")
    other_group = webhook_alert("https://three.example.com/h", group="other")
    late_only = webhook_alert("https://four.example.com/h", on="late")
    for alert in (first, second, other_group, late_only):
        registry.put_alert(alert)
    ledger = OutboxLedger([failed_run()])
    assert ledger.note_event(event())
    assert not ledger.note_event(event())  # the same run, attempt and kind: one event
    sender = ScriptedSender()

    report = deliver(registry, ledger, clock, sender)
    again = deliver(registry, ledger, clock, sender)

    assert sorted((s.alert, s.destination) for s in sender.sent) == sorted(
        [(first.id, first.destination), (second.id, second.destination)]
    )
    assert {s.payload["alert"] for s in sender.sent} == {first.id, second.id}
    assert (report.sent, report.delivered, report.failed) == (2, 1, 0)
    assert again == DeliveryReport()
    assert ledger.outbox == {} and ledger.dropped == [event().key]


def test_an_event_no_alert_wants_leaves_the_outbox_unsent(
    registry: FileRegistry, clock: FakeClock
) -> None:
    registry.put_alert(webhook_alert(on="late"))
    ledger = OutboxLedger()
    ledger.note_event(event(EventKind.STUCK))
    sender = ScriptedSender()
    report = deliver(registry, ledger, clock, sender)
    assert (report.unwanted, sender.sent, ledger.outbox) == (1, [], {})


def test_a_failed_target_is_retried_alone_after_its_backoff(
    registry: FileRegistry, clock: FakeClock
) -> None:
    good = webhook_alert("https://good.example.com/h")
    bad = webhook_alert("https://bad.example.com/h")
    registry.put_alert(good)
    registry.put_alert(bad)
    ledger = OutboxLedger([failed_run()])
    ledger.note_event(event())
    sender = ScriptedSender(failing={bad.destination: "answered HTTP 500"})

    report = deliver(registry, ledger, clock, sender)
    assert (report.sent, report.failed, report.retrying) == (1, 1, 1)
    pending = ledger.outbox[event().key]
    assert pending.tries == 1
    assert pending.next_try == clock.now() + timedelta(seconds=30)
    assert pending.targets == (bad.id,)
    assert pending.last_error == f"{bad.id}: answered HTTP 500"
    assert report.errors == {bad.id: "answered HTTP 500"}

    clock.advance(29)
    assert deliver(registry, ledger, clock, sender) == DeliveryReport()  # not due yet
    clock.advance(1)
    sender.failing.clear()
    retried = deliver(registry, ledger, clock, sender)
    assert (retried.sent, retried.delivered) == (1, 1)
    assert sorted(s.alert for s in sender.sent[:2]) == sorted([good.id, bad.id])
    assert [s.alert for s in sender.sent[2:]] == [bad.id]  # the good one is not sent it twice
    assert ledger.outbox == {}


def test_a_delivery_is_given_up_after_8_tries_spaced_by_the_backoff(
    registry: FileRegistry, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    alert = webhook_alert("https://dead.example.com/h")
    registry.put_alert(alert)
    ledger = OutboxLedger([failed_run()])
    ledger.note_event(event())
    sender = ScriptedSender(failing={alert.destination: "cannot be reached: refused"})
    caplog.set_level(logging.INFO, logger="cronbridge")

    waits = []
    reports = []
    while ledger.outbox:
        reports.append(deliver(registry, ledger, clock, sender))
        pending = ledger.outbox.get(event().key)
        if pending is not None:
            assert pending.next_try is not None
            waits.append((pending.next_try - clock.now()).total_seconds())
            clock.current = pending.next_try
        assert len(reports) <= MAX_TRIES
    assert len(sender.sent) == MAX_TRIES == 30
    assert waits == [30, 60, 120, 240, 480, 960, 1920] + [3600] * 22
    assert 23 * 3600 < sum(waits) < 25 * 3600  # about a day
    assert reports[-1].given_up == 1 and all(r.given_up == 0 for r in reports[:-1])
    gave_up = [r for r in caplog.records if r.getMessage() == "alert given up"]
    assert len(gave_up) == 1 and gave_up[0].levelno == logging.ERROR


def test_a_destination_that_failed_is_not_tried_again_in_the_same_call(
    registry: FileRegistry, clock: FakeClock
) -> None:
    dead = webhook_alert("https://dead.example.com/h")
    same_url = webhook_alert("https://dead.example.com/h", on="failed")
    alive = webhook_alert("https://alive.example.com/h")
    for alert in (dead, same_url, alive):
        registry.put_alert(alert)
    runs = [failed_run(f"g.r{i}") for i in range(3)]
    ledger = OutboxLedger(runs)
    for i, run in enumerate(runs):
        ledger.note_event(event(run_id=run.run_id, at=T0 + timedelta(seconds=i)))
    sender = ScriptedSender(failing={dead.destination: "no answer within 5s"})

    report = deliver(registry, ledger, clock, sender)

    tried_dead = [s for s in sender.sent if s.destination == dead.destination]
    assert len(tried_dead) == 1  # one timeout, not six
    assert sorted(s.payload["run"] for s in sender.sent if s.alert == alive.id) == [
        "g.r0",
        "g.r1",
        "g.r2",
    ]
    assert (report.sent, report.failed, report.retrying) == (3, 6, 3)
    for pending in ledger.outbox.values():
        assert sorted(pending.targets or ()) == sorted([dead.id, same_url.id])
        assert "dead.example.com" in pending.last_error


def test_each_delivery_is_signed_and_scheduled_at_the_time_it_leaves(
    registry: FileRegistry, clock: FakeClock
) -> None:
    slow = webhook_alert("https://slow.example.com/h")
    registry.put_alert(slow)
    runs = [failed_run(f"g.r{i}") for i in range(3)]
    ledger = OutboxLedger(runs)
    for i, run in enumerate(runs):
        ledger.note_event(event(run_id=run.run_id, at=T0 + timedelta(seconds=i)))
    start = clock.now()
    sender = ScriptedSender(failing={}, clock=clock, takes=100)
    deliver(registry, ledger, clock, sender)
    assert [s.at - start for s in sender.sent] == [timedelta(seconds=s) for s in (0, 100, 200)]
    sender.failing[slow.destination] = "answered HTTP 500"
    ledger.note_event(event(run_id="g.r9", at=T0 + timedelta(seconds=9)))
    before = clock.now()
    deliver(registry, ledger, clock, sender)
    [pending] = ledger.outbox.values()
    assert pending.next_try == before + timedelta(seconds=100 + 30)  # 30 s after it failed


def test_delivery_stops_while_time_is_left_and_the_rest_waits(
    registry: FileRegistry, clock: FakeClock
) -> None:
    registry.put_alert(webhook_alert())
    runs = [failed_run(f"g.r{i}") for i in range(4)]
    ledger = OutboxLedger(runs)
    for i, run in enumerate(runs):
        ledger.note_event(event(run_id=run.run_id, at=T0 + timedelta(seconds=i)))
    sender = ScriptedSender()
    left = iter([60.0, 30.0, 9.9, 60.0])

    report = deliver(registry, ledger, clock, sender, time_left=lambda: next(left))

    assert [s.payload["run"] for s in sender.sent] == ["g.r0", "g.r1"]
    assert report.stopped_early and report.delivered == 2
    assert sorted(ledger.outbox) == [event(run_id=f"g.r{i}").key for i in (2, 3)]
    assert all(p.tries == 0 for p in ledger.outbox.values())


def test_a_removed_alert_is_sent_nothing_more(registry: FileRegistry, clock: FakeClock) -> None:
    kept = webhook_alert("https://kept.example.com/h")
    removed = webhook_alert("https://removed.example.com/h")
    registry.put_alert(kept)
    registry.put_alert(removed)
    ledger = OutboxLedger([failed_run()])
    ledger.note_event(event())
    sender = ScriptedSender(failing={removed.destination: "answered HTTP 503"})
    deliver(registry, ledger, clock, sender)
    registry.delete_alert(removed.id)
    clock.advance(30)
    report = deliver(registry, ledger, clock, sender)
    assert [s.alert for s in sender.sent].count(removed.id) == 1
    assert report.delivered == 1 and ledger.outbox == {}


def test_a_sender_that_raises_is_a_failed_delivery_not_a_failed_sweep(
    registry: FileRegistry, clock: FakeClock
) -> None:
    alert = webhook_alert()
    registry.put_alert(alert)
    ledger = OutboxLedger([failed_run()])
    ledger.note_event(event())
    report = deliver(registry, ledger, clock, ScriptedSender(raising={alert.destination}))
    assert report.retrying == 1
    assert ledger.outbox[event().key].last_error == f"{alert.id}: could not be sent: RuntimeError"


# -- a real webhook on loopback ------------------------------------------------------------
def real_senders() -> Senders:
    return Senders(webhook=WebhookSender(timeout=5), sns=ScriptedSender())


def test_a_loopback_webhook_gets_the_json_and_a_signature_it_can_verify(
    registry: FileRegistry, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cronbridge")
    with receiver() as hook:
        alert = webhook_alert(hook.url)
        registry.put_alert(alert)
        ledger = OutboxLedger([failed_run()])
        ledger.note_event(event())
        report = deliver_alerts(
            registry=registry,
            ledger=ledger,
            clock=clock,
            console_url=CONSOLE,
            senders=real_senders(),
        )
        posts = hook.received()
    assert (report.sent, report.delivered) == (1, 1)
    assert len(posts) == 1
    post = posts[0]
    assert post.path == "/hooks/cronbridge"
    headers = {k.lower(): v for k, v in post.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-cronbridge-event"] == "failed"
    assert headers["x-cronbridge-delivery"] == "g.20261122T030000Z#1#failed"
    assert headers[SIGNATURE_HEADER.lower()].startswith(f"t={int(clock.now().timestamp())},v1=")
    assert alert.secret is not None
    expect_signature(alert.secret, post, clock.now())
    expect_signature(new_secret(), post, clock.now(), valid=False)
    expect_signature(alert.secret, post, clock.now() + timedelta(hours=1), valid=False)
    payload = json.loads(post.body)
    assert payload == build_payload(event(), failed_run(), alert_id=alert.id, console_url=CONSOLE)
    assert payload["state"] == "failed" and payload["counts"]["failed"] == 2
    assert payload["link"] == f"{CONSOLE}/runs/g.20261122T030000Z"
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "alert sent" in logged and alert.secret not in logged


def test_a_webhook_answering_500_is_retried_and_then_taken(
    registry: FileRegistry, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cronbridge")
    with receiver([500], answer=b"internal details the sweep must not keep") as hook:
        alert = webhook_alert(hook.url)
        registry.put_alert(alert)
        ledger = OutboxLedger([failed_run()])
        ledger.note_event(event())
        kwargs: dict[str, Any] = {
            "registry": registry,
            "ledger": ledger,
            "clock": clock,
            "console_url": CONSOLE,
            "senders": real_senders(),
        }
        first = deliver_alerts(**kwargs)
        pending = ledger.outbox[event().key]
        clock.advance(30)
        second = deliver_alerts(**kwargs)
        posts = hook.received()
    assert (first.failed, first.retrying, second.delivered) == (1, 1, 1)
    assert pending.tries == 1
    assert pending.last_error == f"{alert.id}: answered HTTP 500"
    assert len(posts) == 2
    deliveries = {p.headers["X-Cronbridge-Delivery"] for p in posts}
    assert deliveries == {event().key}  # the same delivery id: a receiver can dedupe
    assert posts[0].body == posts[1].body
    assert alert.secret is not None
    for post in posts:  # each try signed afresh, at its own time
        expect_signature(alert.secret, post, clock.now())
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "alert not delivered" in logged and "internal details" not in logged
    assert alert.secret not in logged and "/hooks/cronbridge" not in logged


def test_an_unreachable_webhook_and_a_redirect_are_failures_with_a_reason(
    registry: FileRegistry, clock: FakeClock
) -> None:
    sender = WebhookSender(timeout=5)
    down = webhook_alert(f"http://127.0.0.1:{closed_port()}/h")
    result = sender.send(down, {"kind": "test", "delivery": "d"}, clock.now())
    assert not result.ok and result.status is None
    assert result.error.startswith("cannot be reached:")
    with receiver([302]) as hook:
        moved = sender.send(webhook_alert(hook.url), {"kind": "x", "delivery": "d"}, clock.now())
        assert len(hook.received()) == 1  # /elsewhere was not asked
    assert (moved.ok, moved.status, moved.error) == (False, 302, "answered HTTP 302")


def test_a_webhook_that_never_answers_is_a_failure_after_its_timeout(clock: FakeClock) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        alert = webhook_alert(f"http://127.0.0.1:{silent.getsockname()[1]}/h")
        result = WebhookSender(timeout=0.2).send(alert, {"kind": "x", "delivery": "d"}, clock.now())
    assert (result.ok, result.status) == (False, None)
    assert result.error == "cannot be reached: no answer within 0.2s"


def test_alerts_test_sends_a_marked_payload_and_says_what_came_back(clock: FakeClock) -> None:
    with receiver([200, 503], answer=b"thanks") as hook:
        alert = webhook_alert(hook.url, group="g")
        ok = delivery.test_alert(alert, real_senders(), CONSOLE, clock.now())
        refused = delivery.test_alert(alert, real_senders(), CONSOLE, clock.now())
        posts = hook.received()
    assert (ok.ok, ok.status, ok.answer) == (True, 200, "thanks")
    assert (refused.ok, refused.status, refused.error) == (False, 503, "answered HTTP 503")
    payload = json.loads(posts[0].body)
    assert (payload["kind"], payload["test"], payload["group"], payload["alert"]) == (
        "test",
        True,
        "g",
        alert.id,
    )
    assert posts[0].headers["X-Cronbridge-Event"] == "test"
    assert alert.secret is not None
    expect_signature(alert.secret, posts[0], clock.now())


# -- SNS on moto ---------------------------------------------------------------------------
@pytest.mark.usefixtures("aws")
def test_an_sns_alert_publishes_the_same_json_to_its_topic(
    registry: FileRegistry, clock: FakeClock
) -> None:
    sns = boto3.client("sns", region_name="eu-west-1")
    sqs = boto3.client("sqs", region_name="eu-west-1")
    topic = sns.create_topic(Name="cronbridge-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    alert = sns_alert(topic, on="failed")
    registry.put_alert(alert)
    ledger = OutboxLedger([failed_run()])
    ledger.note_event(event())
    regions: list[str] = []

    def client_for(region: str) -> Any:
        regions.append(region)
        return boto3.client("sns", region_name=region)

    report = deliver_alerts(
        registry=registry,
        ledger=ledger,
        clock=clock,
        console_url=CONSOLE,
        senders=Senders(webhook=ScriptedSender(), sns=SnsSender(client_for)),
    )

    assert (report.sent, report.delivered) == (1, 1)
    assert regions == ["eu-west-1"]
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert envelope["TopicArn"] == topic
    assert envelope["Subject"] == "cronbridge: g: run g.20261122T030000Z failed"
    assert json.loads(envelope["Message"]) == build_payload(
        event(), failed_run(), alert_id=alert.id, console_url=CONSOLE
    )


@pytest.mark.usefixtures("aws")
def test_a_fifo_topic_gets_a_message_group_and_a_deduplication_id(clock: FakeClock) -> None:
    sns = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(
        Name="alerts.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "false"}
    )["TopicArn"]
    alert = sns_alert(parse_sns_topic(topic))
    payload = build_payload(event(), failed_run(), alert_id=alert.id, console_url=CONSOLE)
    sent = SnsSender().send(alert, payload, clock.now())
    assert (sent.ok, sent.error) == (True, "")
    assert sent.answer.startswith("MessageId ")


@pytest.mark.usefixtures("aws")
def test_a_topic_that_is_not_there_is_a_failed_delivery_retried_later(
    registry: FileRegistry, clock: FakeClock
) -> None:
    alert = sns_alert("arn:aws:sns:us-east-1:123456789012:nowhere")
    registry.put_alert(alert)
    ledger = OutboxLedger([failed_run()])
    ledger.note_event(event())
    report = deliver_alerts(
        registry=registry,
        ledger=ledger,
        clock=clock,
        console_url=CONSOLE,
        senders=Senders(webhook=ScriptedSender(), sns=SnsSender()),
    )
    assert report.retrying == 1
    pending = ledger.outbox[event().key]
    assert pending.last_error.startswith(f"{alert.id}: SNS said NotFound")


def test_the_scripted_ledger_keeps_pending_events_as_the_port_says() -> None:
    """The double above behaves as the Ledger port documents, so the tests can fail."""
    ledger = OutboxLedger()
    ledger.note_event(event(at=T0 + timedelta(seconds=1), run_id="b"))
    ledger.note_event(event(run_id="a"))
    assert [p.event.run_id for p in ledger.pending_events(T0, 10)] == ["a", "b"]
    later = replace(ledger.pending_events(T0, 10)[0], next_try=T0 + timedelta(seconds=5))
    ledger.retry_event(later)
    assert [p.event.run_id for p in ledger.pending_events(T0, 10)] == ["b"]


# -- with the real ledgers -----------------------------------------------------------------
@pytest.fixture(params=["local", "aws"])
def real_ledger(request: pytest.FixtureRequest, home: Home) -> Iterator[Any]:
    """The ledger adapters themselves, so the outbox is what the sweep will really read."""
    if request.param == "local":
        store = SqliteLedger(home.ledger_path)
        yield store
        store.close()
        return
    request.getfixturevalue("aws")
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**table_definition("cronbridge-ledger-test"))
    yield DynamoLedger(client, "cronbridge-ledger-test")


def finish_failed(ledger: Any, run: Run) -> RunEvent:
    """Open the run, and end it failed with its event, as the recorder does."""
    running = replace(run, state=RunState.RUNNING, succeeded=0, failed=0, lost=0, finished_at=None)
    assert ledger.open_run(running, previous=None, cancel=None) == "opened"
    failed = event(run_id=run.run_id, group=run.group)
    tally = Tally(run.total, run.succeeded, run.failed, run.lost, run.finished_at)
    assert run.finished_at is not None
    assert ledger.finish_run(
        run.run_id, 1, RunState.FAILED, tally, run.finished_at, events=[failed]
    )
    return failed


def test_a_failed_run_alerts_once_from_the_real_outbox(
    real_ledger: Any, registry: FileRegistry, clock: FakeClock
) -> None:
    failed = finish_failed(real_ledger, failed_run())
    assert not real_ledger.note_event(failed)  # counted once however its results arrive
    with receiver() as hook:
        alert = webhook_alert(hook.url)
        registry.put_alert(alert)
        kwargs: dict[str, Any] = {
            "registry": registry,
            "ledger": real_ledger,
            "clock": clock,
            "console_url": CONSOLE,
            "senders": real_senders(),
        }
        first = deliver_alerts(**kwargs)
        clock.advance(3600)
        again = deliver_alerts(**kwargs)
        posts = hook.received()
    assert (first.sent, first.delivered, again) == (1, 1, DeliveryReport())
    assert len(posts) == 1
    payload = json.loads(posts[0].body)
    assert (payload["state"], payload["counts"]) == (
        "failed",
        {"total": 10, "succeeded": 7, "failed": 2, "lost": 1},
    )
    assert alert.secret is not None
    expect_signature(alert.secret, posts[0], clock.now() - timedelta(seconds=3600))
    assert real_ledger.pending_events(clock.now(), 10) == []
    assert not real_ledger.note_event(failed)  # delivered: its key stays taken


def test_the_real_outbox_keeps_the_backoff_and_the_target_left(
    real_ledger: Any, registry: FileRegistry, clock: FakeClock
) -> None:
    good = webhook_alert("https://good.example.com/h")
    bad = webhook_alert("https://bad.example.com/h")
    registry.put_alert(good)
    registry.put_alert(bad)
    failed = finish_failed(real_ledger, failed_run())
    sender = ScriptedSender(failing={bad.destination: "answered HTTP 502"})

    sends = []
    while real_ledger.pending_events(clock.now() + timedelta(days=1), 10):
        deliver(registry, real_ledger, clock, sender)
        [pending] = real_ledger.pending_events(clock.now() + timedelta(days=1), 10) or [None]
        if pending is None:
            break
        assert pending.event == failed
        assert pending.targets == (bad.id,)
        assert pending.last_error == f"{bad.id}: answered HTTP 502"
        assert pending.next_try == clock.now() + timedelta(seconds=retry_delay(pending.tries))
        assert real_ledger.pending_events(clock.now(), 10) == []  # not due before then
        sends.append(pending.tries)
        clock.current = pending.next_try
    assert sends == list(range(1, MAX_TRIES))  # then the last try gave it up
    assert [s.alert for s in sender.sent].count(good.id) == 1
    assert [s.alert for s in sender.sent].count(bad.id) == MAX_TRIES


def test_the_readme_s_verification_snippet_accepts_a_real_signature() -> None:
    """The receiver code the README gives, run as written, against what is sent."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    snippet = readme.split("To verify:\n\n```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(compile(snippet, "README.md", "exec"), scope)
    body = b'{"kind": "failed"}'
    secret = new_secret()
    header = sign(secret, body, int(time.time()))
    assert scope["verify"](secret, header, body) is True
    assert scope["verify"](new_secret(), header, body) is False
    assert scope["verify"](secret, header, body + b" ") is False
    stale = sign(secret, body, int(time.time()) - 3600)
    assert scope["verify"](secret, stale, body) is False
