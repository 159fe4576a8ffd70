"""Delivering run events to the alerts that want them (issue 13), from the outbox the
ledger keeps (bridge.domain.events).

The sweep calls `deliver_alerts` (on AWS the sweeper Lambda each minute, locally
`cronbridge serve`). For each due event:

1. the first time, its targets are the alerts that want it (none: it is dropped);
2. it is sent to each target still left; one that took it is done with it;
3. when no target is left the event leaves the outbox; otherwise it waits 30 s, then
   twice as long after each failed try (at most an hour), and after 30 tries (about a
   day) it is given up, logged as an error.

A destination that failed once is not tried again in the same call, and the call stops
while it still has 10 s: a dead endpoint costs one timeout per sweep, never the sweep.
Nothing here raises for a delivery that failed; the sweep records runs whatever a
webhook answers. Two sweeps at once may send an event twice: receivers drop a
`delivery` id they have seen.

This runs inside the sweeper Lambda: the standard library and boto3 only.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from bridge.domain.alerts import (
    MAX_TRIES,
    Alert,
    DestinationKind,
    alerts_for,
    build_payload,
    encode_payload,
    retry_delay,
    sample_payload,
    sns_region,
    webhook_headers,
)
from bridge.domain.events import PendingEvent
from bridge.ports import Clock, Ledger, Registry

__all__ = [
    "MIN_TIME_LEFT",
    "WEBHOOK_TIMEOUT",
    "DeliveryReport",
    "SendResult",
    "Sender",
    "Senders",
    "SnsSender",
    "WebhookSender",
    "deliver_alerts",
    "test_alert",
]

log = logging.getLogger("cronbridge.alerts")

#: seconds a webhook has to answer
WEBHOOK_TIMEOUT = 5.0
#: seconds the caller must still have for another delivery to start
MIN_TIME_LEFT = 10.0
_ERROR_TEXT = 300
_ANSWER_TEXT = 200


@dataclass(frozen=True)
class SendResult:
    ok: bool
    #: the webhook's HTTP status, when it answered
    status: int | None = None
    #: what went wrong, in a few words: never a secret, never the whole answer
    error: str = ""
    #: the start of what the destination answered (`alerts test` shows it; never stored)
    answer: str = ""


class Sender(Protocol):
    """Sends one payload to one alert's destination; a failure is a result, not an error."""

    def send(self, alert: Alert, payload: Mapping[str, Any], now: datetime) -> SendResult: ...


class WebhookSender:
    """One POST per delivery with urllib: any 2xx is taken; a redirect is not followed
    (a POST that became a GET would lose its body), so it fails like a 4xx."""

    def __init__(self, timeout: float = WEBHOOK_TIMEOUT) -> None:
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect())

    def send(self, alert: Alert, payload: Mapping[str, Any], now: datetime) -> SendResult:
        body = encode_payload(payload)
        request = urllib.request.Request(  # noqa: S310 - parse_webhook_url allowed http(s) only
            alert.destination,
            data=body,
            headers=webhook_headers(alert, payload, body, now),
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = int(response.status)
                answer = _answer_text(response.read(_ANSWER_TEXT * 4))
        except urllib.error.HTTPError as exc:
            with exc:
                answer = _answer_text(_read_some(exc))
            return SendResult(False, exc.code, f"answered HTTP {exc.code}", answer)
        except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError is an OSError
            return SendResult(False, None, f"cannot be reached: {_reason(exc, self.timeout)}")
        # urllib raised HTTPError above for every status but 2xx (a 3xx too, not followed)
        return SendResult(True, status, "", answer)


class SnsSender:
    """`sns:Publish` of the same JSON, through a client for the topic's region."""

    def __init__(self, client_for: Callable[[str], Any] | None = None) -> None:
        self._client_for = client_for or _boto3_sns
        self._clients: dict[str, Any] = {}

    def send(self, alert: Alert, payload: Mapping[str, Any], now: datetime) -> SendResult:
        region = sns_region(alert.destination)
        arguments: dict[str, Any] = {
            "TopicArn": alert.destination,
            "Message": encode_payload(payload).decode(),
            "Subject": _subject(payload),
        }
        if alert.destination.endswith(".fifo"):
            arguments["MessageGroupId"] = str(payload.get("group") or "cronbridge")
            arguments["MessageDeduplicationId"] = _dedup_id(str(payload["delivery"]))
        try:
            if region not in self._clients:
                self._clients[region] = self._client_for(region)
            answer = self._clients[region].publish(**arguments)
        except Exception as exc:  # noqa: BLE001 - botocore's errors and a bad client alike are a failed delivery
            return SendResult(False, None, _aws_error(exc))
        return SendResult(True, None, "", f"MessageId {answer.get('MessageId', '?')}")


class Senders:
    """Where each kind of destination is sent through; tests pass their own."""

    def __init__(self, *, webhook: Sender | None = None, sns: Sender | None = None) -> None:
        self.webhook: Sender = webhook or WebhookSender()
        self.sns: Sender = sns or SnsSender()

    def send(self, alert: Alert, payload: Mapping[str, Any], now: datetime) -> SendResult:
        sender = self.sns if alert.kind is DestinationKind.SNS else self.webhook
        try:
            return sender.send(alert, payload, now)
        except Exception as exc:  # noqa: BLE001 - a delivery never breaks the sweep
            return SendResult(False, None, f"could not be sent: {type(exc).__name__}")


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0  # deliveries (one event to one alert) taken by their destination
    failed: int = 0  # deliveries that failed, or were not tried after their destination failed
    delivered: int = 0  # events every target took: out of the outbox
    unwanted: int = 0  # events no alert wanted: out of the outbox
    retrying: int = 0  # events left for a later try
    given_up: int = 0  # events dropped after MAX_TRIES tries
    stopped_early: bool = False  # time ran short with due events left
    #: why destinations failed, by alert id (no secrets, no bodies)
    errors: Mapping[str, str] = field(default_factory=dict)


def deliver_alerts(
    *,
    registry: Registry,
    ledger: Ledger,
    clock: Clock,
    console_url: str,
    senders: Senders | None = None,
    time_left: Callable[[], float] | None = None,
    limit: int = 100,
) -> DeliveryReport:
    """Send the due events of the outbox to their alerts, at most `limit` of them."""
    now = clock.now()
    pending = ledger.pending_events(now, limit)
    if not pending:
        return DeliveryReport()
    alerts = {alert.id: alert for alert in registry.list_alerts()}
    tally = _Tally()
    delivery = _Delivery(
        ledger=ledger,
        clock=clock,
        alerts=alerts,
        senders=senders or Senders(),
        console_url=console_url,
    )
    for done, item in enumerate(pending):
        if time_left is not None and time_left() < MIN_TIME_LEFT:
            tally.stopped_early = True
            log.warning(
                "alert delivery stopped: time is short", extra={"left": len(pending) - done}
            )
            break
        delivery.deliver(item, tally)
    return tally.report()


def test_alert(
    alert: Alert, senders: Senders | None, console_url: str, now: datetime
) -> SendResult:
    """Send `alert` a payload marked as a test; what its destination answered."""
    payload = sample_payload(alert, console_url=console_url, now=now)
    return (senders or Senders()).send(alert, payload, now)


test_alert.__test__ = False  # type: ignore[attr-defined]  # pytest: not a test, despite its name


@dataclass
class _Tally:
    sent: int = 0
    failed: int = 0
    delivered: int = 0
    unwanted: int = 0
    retrying: int = 0
    given_up: int = 0
    stopped_early: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    def report(self) -> DeliveryReport:
        return DeliveryReport(
            self.sent,
            self.failed,
            self.delivered,
            self.unwanted,
            self.retrying,
            self.given_up,
            self.stopped_early,
            dict(self.errors),
        )


@dataclass
class _Delivery:
    ledger: Ledger
    clock: Clock
    alerts: Mapping[str, Alert]
    senders: Senders
    console_url: str
    #: destinations that failed in this call, and why: not tried again in it
    dead: dict[str, str] = field(default_factory=dict)

    def deliver(self, item: PendingEvent, tally: _Tally) -> None:
        event = item.event
        if item.targets is None:
            targets = alerts_for(self.alerts.values(), event)
        else:  # an alert removed since is no longer sent anything
            targets = tuple(t for t in item.targets if t in self.alerts)
        if not targets:
            self.ledger.drop_event(event)
            if item.targets is None:
                tally.unwanted += 1
            else:
                tally.delivered += 1
            return
        run = self.ledger.get_run(event.run_id)
        left: list[str] = []
        errors: list[str] = []
        for alert_id in targets:
            alert = self.alerts[alert_id]
            where = alert.destination
            if where in self.dead:
                error = f"not tried: {alert.shown_destination} failed earlier in this sweep"
            else:
                payload = build_payload(event, run, alert_id=alert.id, console_url=self.console_url)
                # signed with the time it leaves: a receiver's replay window is never
                # spent by the deliveries before it in this call
                result = self.senders.send(alert, payload, self.clock.now())
                if result.ok:
                    tally.sent += 1
                    log.info(
                        "alert sent",
                        extra={"alert": alert.id, "delivery": event.key, "status": result.status},
                    )
                    continue
                error = _short(result.error)
                self.dead[where] = error
                log.warning(
                    "alert not delivered",
                    extra={
                        "alert": alert.id,
                        "delivery": event.key,
                        "destination": alert.shown_destination,
                        "error": error,
                        "tries": item.tries + 1,
                    },
                )
            tally.failed += 1
            tally.errors[alert.id] = error
            left.append(alert_id)
            errors.append(f"{alert.id}: {error}")
        if not left:
            self.ledger.drop_event(event)
            tally.delivered += 1
            return
        tries = item.tries + 1
        last_error = _short("; ".join(errors))
        if tries >= MAX_TRIES:
            log.error(
                "alert given up",
                extra={"delivery": event.key, "alerts": left, "tries": tries, "error": last_error},
            )
            self.ledger.drop_event(event)
            tally.given_up += 1
            return
        self.ledger.retry_event(
            replace(
                item,
                tries=tries,
                next_try=self.clock.now() + timedelta(seconds=retry_delay(tries)),
                targets=tuple(left),
                last_error=last_error,
            )
        )
        tally.retrying += 1


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


def _boto3_sns(region: str) -> Any:
    import boto3

    return boto3.client("sns", region_name=region)


def _subject(payload: Mapping[str, Any]) -> str:
    """SNS subjects: ASCII, one line, at most 100 characters."""
    group = payload.get("group") or "every group"
    what = "test" if payload.get("test") else f"run {payload.get('run')} {payload.get('kind')}"
    text = f"cronbridge: {group}: {what}"
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return text[:100]


def _dedup_id(delivery: str) -> str:
    return hashlib.sha256(delivery.encode()).hexdigest()[:64]


def _aws_error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return _short(f"SNS said {error.get('Code', 'error')}: {error.get('Message', '')}")
    return _short(f"SNS cannot be reached: {type(exc).__name__}: {exc}")


def _reason(exc: BaseException, timeout: float) -> str:
    """Why a URL could not be reached: URLError wraps the socket's error as `reason`."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g}s"
    return _short(str(reason) or type(reason).__name__)


def _read_some(answer: urllib.error.HTTPError) -> bytes:
    try:
        return answer.read(_ANSWER_TEXT * 4)
    except (OSError, http.client.HTTPException):  # the status is what counts
        return b""


def _answer_text(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:_ANSWER_TEXT]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_TEXT else text[: _ERROR_TEXT - 3] + "..."
