"""Alert rules (issue 13): who is told of which run events, and what they are sent.

An alert wants some kinds of event (bridge.domain.events), of one group or of all, and
sends each one to a webhook (one signed JSON POST) or an SNS topic (the same JSON). A
webhook's POST carries `X-Cronbridge-Signature: t=<unix seconds>,v1=<hex>`, the
HMAC-SHA256 of `f"{t}.{body}"` under the alert's own secret, so its receiver can tell
the POST came from us and is recent (`verify_signature` does it, Stripe's way).

Values in, values out: this module reads no clock and does no I/O.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from bridge.domain._show import show
from bridge.domain.events import MAX_ERRORS, EventKind, RunEvent
from bridge.domain.names import validate_group_name
from bridge.domain.runs import Run
from bridge.domain.triggers import format_time
from bridge.exceptions import InvalidInput, NotFound

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "MAX_TRIES",
    "SIGNATURE_HEADER",
    "SIGNATURE_TOLERANCE",
    "TEST_KIND",
    "Alert",
    "AlertNotFound",
    "DestinationKind",
    "alerts_for",
    "build_payload",
    "checked_group",
    "encode_payload",
    "new_alert_id",
    "new_secret",
    "parse_events",
    "parse_sns_topic",
    "parse_webhook_url",
    "retry_delay",
    "run_link",
    "sample_payload",
    "sign",
    "sns_region",
    "validate_alert_id",
    "verify_signature",
    "webhook_headers",
]

SIGNATURE_HEADER = "X-Cronbridge-Signature"
EVENT_HEADER = "X-Cronbridge-Event"
DELIVERY_HEADER = "X-Cronbridge-Delivery"
#: seconds a signature's timestamp may be off from the receiver's clock
SIGNATURE_TOLERANCE = 300
#: the kind a payload of `cronbridge alerts test` says it is
TEST_KIND = "test"
#: deliveries of one event to one alert before it is given up
MAX_TRIES = 30
_FIRST_RETRY = 30.0
_LAST_RETRY = 3600.0
_MAX_URL = 2048
_ALERT_ID = re.compile(r"a-[0-9a-f]{8}")
_SNS_ARN = re.compile(
    r"arn:aws(?:-[a-z]+)*:sns:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?"
)
_EVENT_NAMES = frozenset(kind.value for kind in EventKind)
_VALID_EVENTS = ", ".join(kind.value for kind in EventKind)


class AlertNotFound(NotFound):
    code = "NoSuchAlert"


class DestinationKind(enum.StrEnum):
    WEBHOOK = "webhook"
    SNS = "sns"


@dataclass(frozen=True)
class Alert:
    id: str
    group: str | None  # None: every group
    events: frozenset[EventKind]
    kind: DestinationKind
    destination: str  # the webhook URL, or the SNS topic ARN
    created_at: datetime
    #: the webhook's signing key (None for SNS); never in a log, a message or a repr
    secret: str | None = field(default=None, repr=False)

    def matches(self, event: RunEvent) -> bool:
        return event.kind in self.events and self.group in (None, event.group)

    @property
    def shown_destination(self) -> str:
        """The destination as logs and errors may show it: a webhook's scheme and host
        only, since many webhook URLs hold a token in their path or query."""
        if self.kind is DestinationKind.SNS:
            return self.destination
        parts = urlsplit(self.destination)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host  # an IPv6 address
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}/..."

    def to_dict(self, *, with_secret: bool = False) -> dict[str, Any]:
        """As stored (`with_secret`), or as shown: a listing never holds the secret."""
        data: dict[str, Any] = {
            "id": self.id,
            "group": self.group,
            "on": sorted(kind.value for kind in self.events),
            self.kind.value: self.destination,
            "created_at": format_time(self.created_at),
        }
        if with_secret and self.secret is not None:
            data["secret"] = self.secret
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        kind = DestinationKind.SNS if data.get("sns") else DestinationKind.WEBHOOK
        secret = data.get("secret")
        return cls(
            id=str(data["id"]),
            group=None if data.get("group") is None else str(data["group"]),
            events=frozenset(EventKind(value) for value in data["on"]),
            kind=kind,
            destination=str(data[kind.value]),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            secret=None if secret is None else str(secret),
        )


def new_alert_id() -> str:
    return "a-" + secrets.token_hex(4)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def validate_alert_id(alert_id: str) -> str:
    """An id as `alerts add` makes them; anything else names no alert (and no file)."""
    if not _ALERT_ID.fullmatch(alert_id):
        raise AlertNotFound(
            f"no alert {show(alert_id)}: alert ids look like a-1f2e3d4c",
            hint="see `cronbridge alerts list`",
        )
    return alert_id


def parse_events(text: str) -> frozenset[EventKind]:
    """`--on failed,lost`: one or more event kinds, comma-separated."""
    words = [word.strip().lower() for word in text.split(",")]
    if not any(words):
        raise InvalidInput("--on needs at least one event", hint=f"one or more of {_VALID_EVENTS}")
    unknown = [word for word in words if word and word not in _EVENT_NAMES]
    if unknown or not all(words):
        bad = ", ".join(show(word) for word in unknown) or "an empty name"
        raise InvalidInput(
            f"--on names an event alerts do not know: {bad}",
            hint=f"one or more of {_VALID_EVENTS}, comma-separated, e.g. --on failed,lost",
        )
    return frozenset(EventKind(word) for word in words)


def parse_webhook_url(url: str) -> str:
    """An http(s) URL with a host; anything else is one clear mistake."""
    hint = "a full http:// or https:// URL, e.g. https://hooks.example.com/cronbridge"
    if len(url) > _MAX_URL or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidInput(
            "the webhook URL must be one line without spaces, at most 2,048 characters",
            hint=hint,
        )
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        raise InvalidInput(f"the webhook URL {show(url)} cannot be parsed", hint=hint) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput(
            f"the webhook URL must be http or https, not {show(parts.scheme or url)}", hint=hint
        )
    if not parts.hostname:
        raise InvalidInput(f"the webhook URL {show(url)} names no host", hint=hint)
    return url


def parse_sns_topic(arn: str) -> str:
    if not _SNS_ARN.fullmatch(arn):
        raise InvalidInput(
            f"{show(arn)} is not an SNS topic ARN",
            hint="arn:aws:sns:<region>:<account>:<topic>, e.g. "
            "arn:aws:sns:eu-west-1:123456789012:cronbridge-alerts",
        )
    return arn


def sns_region(arn: str) -> str:
    return arn.split(":")[3]


def retry_delay(tries: int) -> float:
    """Seconds before the next try of a delivery that failed `tries` times: 30 s, then
    doubling, at most an hour: MAX_TRIES (30) tries span about a day, as long as a
    receiver may be down for a deploy or a weekend night and still get its alerts."""
    return float(min(_FIRST_RETRY * 2 ** max(tries - 1, 0), _LAST_RETRY))


def build_payload(
    event: RunEvent, run: Run | None, *, alert_id: str, console_url: str
) -> dict[str, Any]:
    """What a webhook is POSTed and an SNS topic is sent for one event."""
    counts = {"total": 0, "succeeded": 0, "failed": 0, "lost": 0}
    if run is not None:
        counts = {
            "total": run.total,
            "succeeded": run.succeeded,
            "failed": run.failed,
            "lost": run.lost,
        }
    return {
        "delivery": event.key,
        "kind": event.kind.value,
        "test": False,
        "alert": alert_id,
        "group": event.group,
        "run": event.run_id,
        "attempt": event.attempt,
        "slot": format_time(run.slot_time) if run is not None else None,
        "scheduled": run.scheduled if run is not None else None,
        "state": run.state_label if run is not None else None,
        "reason": run.reason if run is not None else "",
        "detail": event.detail,
        "counts": counts,
        "errors": [error.to_dict() for error in event.errors[:MAX_ERRORS]],
        "link": run_link(console_url, event.run_id),
        "at": format_time(event.at),
    }


def sample_payload(alert: Alert, *, console_url: str, now: datetime) -> dict[str, Any]:
    """The payload `cronbridge alerts test` sends: shaped as a real one, marked a test."""
    return {
        "delivery": f"test#{secrets.token_hex(6)}",
        "kind": TEST_KIND,
        "test": True,
        "alert": alert.id,
        "group": alert.group,
        "run": None,
        "attempt": 0,
        "slot": None,
        "scheduled": None,
        "state": None,
        "reason": "",
        "detail": "a test from `cronbridge alerts test`; no run is involved",
        "counts": {"total": 0, "succeeded": 0, "failed": 0, "lost": 0},
        "errors": [],
        "link": console_url.rstrip("/") or None,
        "at": format_time(now),
    }


def run_link(console_url: str, run_id: str) -> str | None:
    base = console_url.rstrip("/")
    return f"{base}/runs/{quote(run_id, safe='')}" if base else None


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent, and signed."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header's value for `body` sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def webhook_headers(
    alert: Alert, payload: Mapping[str, Any], body: bytes, now: datetime
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "cronbridge-alerts/1",
        EVENT_HEADER: str(payload["kind"]),
        DELIVERY_HEADER: str(payload["delivery"]),
    }
    if alert.secret is not None:
        headers[SIGNATURE_HEADER] = sign(alert.secret, body, int(now.timestamp()))
    return headers


def verify_signature(
    secret: str,
    header: str,
    body: bytes | str,
    now: datetime | float,
    tolerance: float = SIGNATURE_TOLERANCE,
) -> bool:
    """Whether `header` (X-Cronbridge-Signature) signs `body` with `secret`, at a time
    within `tolerance` seconds of `now`: what a receiver checks before it trusts a POST."""
    raw = body.encode() if isinstance(body, str) else body
    clock = now.timestamp() if isinstance(now, datetime) else float(now)
    stamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            stamps.append(value)
        elif name == "v1":
            signatures.append(value)
    if len(stamps) != 1 or not signatures or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(clock - timestamp) > tolerance:
        return False
    expected = sign(secret, raw, timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, given) for given in signatures)


def alerts_for(alerts: Iterable[Alert], event: RunEvent) -> tuple[str, ...]:
    """The ids of the alerts that want `event`, in a stable order."""
    return tuple(sorted(alert.id for alert in alerts if alert.matches(event)))


def checked_group(group: str | None) -> str | None:
    return None if group is None else validate_group_name(group)
