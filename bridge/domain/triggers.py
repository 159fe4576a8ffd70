"""Triggers (DESIGN.md §3.1) and run ids (§3.3): pure parsing, no I/O, no clock."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.domain._show import show
from bridge.domain.names import NAME_PATTERN
from bridge.exceptions import InvalidInput, InvalidTrigger

__all__ = [
    "BACKFILL_SOURCE",
    "MAX_BODY_BYTES",
    "TRIGGER_PREFIX",
    "Trigger",
    "TriggerBody",
    "TriggerEvent",
    "carries_secret",
    "derive_run_id",
    "format_time",
    "group_of_run",
    "parse_time",
    "parse_trigger",
    "parse_trigger_body",
    "parse_trigger_key",
    "slot_run_id",
]

TRIGGER_PREFIX = "triggers/"
#: the source `cronbridge backfill` fires slots with: a deliberate late firing, which
#: max_lateness does not turn away and which is not reported late
BACKFILL_SOURCE = "backfill"
MAX_BODY_BYTES = 4096
_MAX_TEXT = 256
_RUN_SEPARATOR = "."


@dataclass(frozen=True)
class TriggerEvent:
    """One object written to the trigger bucket, as the S3 event (or local server) saw it.

    `key` is already decoded. `sequencer` is S3's per-key ordering token; where it is
    missing (some emulators), `etag` plus `event_time` identify the write instead.
    """

    bucket: str
    key: str
    body: bytes
    event_time: datetime
    sequencer: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class TriggerBody:
    scheduled_time: datetime | None = None
    source: str = "manual"
    note: str = ""


@dataclass(frozen=True)
class Trigger:
    group: str
    body: TriggerBody
    event_time: datetime
    identity: str  # stable for one write of the trigger object; used for manual run ids

    @property
    def slot_time(self) -> datetime:
        """The time the trigger stands for: its scheduled time, else when it arrived."""
        return self.body.scheduled_time or self.event_time

    @property
    def backfill(self) -> bool:
        return self.body.source == BACKFILL_SOURCE and self.body.scheduled_time is not None


def parse_trigger_key(key: str) -> str:
    """The group named by `triggers/<group>[/<anything>]`."""
    if not key.startswith(TRIGGER_PREFIX):
        raise InvalidTrigger(f"key {show(key)} is not under {TRIGGER_PREFIX!r}")
    group = key[len(TRIGGER_PREFIX) :].split("/", 1)[0]
    if NAME_PATTERN.fullmatch(group) is None:
        raise InvalidTrigger(
            f"key {show(key)} does not name a valid group",
            hint="PUT triggers/<group>; group names are 1-63 of a-z, 0-9 and '-'",
        )
    return group


def parse_trigger_body(body: bytes) -> TriggerBody:
    if len(body) > MAX_BODY_BYTES:
        raise InvalidTrigger(f"trigger body is {len(body)} bytes; at most {MAX_BODY_BYTES} allowed")
    if not body.strip():
        return TriggerBody()
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidTrigger(
            "trigger body is not JSON",
            hint='send nothing, or {"scheduled_time": "2026-01-01T03:00:00Z"}',
        ) from None
    if not isinstance(data, dict):
        raise InvalidTrigger(f"trigger body must be a JSON object, not {type(data).__name__}")
    scheduled = data.get("scheduled_time")
    if scheduled == "":
        # A scheduler that fills the field from its own slot, when it has none (a Logic
        # App run by hand from the portal): a manual trigger.
        scheduled = None
    return TriggerBody(
        scheduled_time=None if scheduled is None else parse_time(scheduled, "scheduled_time"),
        source=_text(data, "source", "manual" if scheduled is None else "schedule"),
        note=_text(data, "note", ""),
    )


def parse_trigger(event: TriggerEvent) -> Trigger:
    group = parse_trigger_key(event.key)
    body = parse_trigger_body(event.body)
    return Trigger(group=group, body=body, event_time=event.event_time, identity=_identity(event))


def carries_secret(user_agent: str, secret: str) -> bool:
    """Whether the secret appears anywhere in the User-Agent, as the bucket policy's
    `StringLike "*<secret>*"` matches it: a scheduler's HTTP client (or a proxy) may add
    to the header it was given. Every window is compared in constant time, so how long
    an answer takes does not say how much of a guess was right."""
    agent = user_agent.encode("latin-1", "replace")
    wanted = secret.encode()
    if not wanted:
        return False
    found = False
    for start in range(max(1, len(agent) - len(wanted) + 1)):
        found |= hmac.compare_digest(agent[start : start + len(wanted)], wanted)
    return found


def derive_run_id(trigger: Trigger) -> str:
    """One run id per slot: the same scheduled time, or the same S3 write, gives the same id."""
    scheduled = trigger.body.scheduled_time
    if scheduled is not None:
        stamp = scheduled.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
        micros = scheduled.microsecond
        suffix = f".{micros:06d}".rstrip("0") if micros else ""
        return f"{trigger.group}{_RUN_SEPARATOR}{stamp}{suffix}Z"
    return f"{trigger.group}{_RUN_SEPARATOR}m-{trigger.identity[:16]}"


def slot_run_id(group: str, slot: datetime) -> str:
    """The run id a trigger for `slot` derives: the same one whoever fires it (the
    scheduler, a backfill, the sweep recording the slot missed)."""
    return derive_run_id(Trigger(group, TriggerBody(scheduled_time=slot), slot, ""))


def group_of_run(run_id: str) -> str:
    group = run_id.split(_RUN_SEPARATOR, 1)[0]
    if NAME_PATTERN.fullmatch(group) is None or _RUN_SEPARATOR not in run_id:
        raise InvalidInput(
            f"{show(run_id)} is not a run id (they look like nightly.20260101T030000Z)"
        )
    return group


def parse_time(value: Any, field: str) -> datetime:
    """An RFC 3339 timestamp with an offset, as UTC."""
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidTrigger(f"{field} must be an RFC 3339 string such as 2026-01-01T03:00:00Z")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidTrigger(
            f"{field} {show(value)} is not an RFC 3339 time",
            hint="write it like 2026-01-01T03:00:00Z or 2026-01-01T12:00:00+09:00",
        ) from None
    if parsed.tzinfo is None:
        raise InvalidTrigger(f"{field} {show(value)} has no UTC offset; add Z or +hh:mm")
    return parsed.astimezone(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _identity(event: TriggerEvent) -> str:
    token = event.sequencer or f"{event.etag or ''}@{event.event_time.isoformat()}"
    digest = hashlib.sha256(f"{event.bucket}\n{event.key}\n{token}".encode())
    return digest.hexdigest()


def _text(data: dict[str, Any], field: str, default: str) -> str:
    value = data.get(field, default)
    if not isinstance(value, str):
        raise InvalidTrigger(f"{field} must be a string")
    if len(value) > _MAX_TEXT:
        raise InvalidTrigger(f"{field} is longer than {_MAX_TEXT} characters")
    return value
