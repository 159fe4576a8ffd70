"""The trigger request a scheduler sends: one PUT of a tiny object, and its curl form."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from datetime import datetime

from bridge.domain.names import validate_group_name
from bridge.domain.triggers import TRIGGER_PREFIX, format_time

__all__ = ["TriggerRequest", "build_trigger_request", "render_curl"]

SECRET_VARIABLE = "CRONBRIDGE_SECRET"  # noqa: S105 - the variable's name, not a secret


@dataclass(frozen=True)
class TriggerRequest:
    url: str
    user_agent: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "PUT"

    def all_headers(self) -> dict[str, str]:
        return {"User-Agent": self.user_agent, **self.headers}


def build_trigger_request(
    bucket_url: str,
    group: str,
    *,
    user_agent: str,
    scheduled_time: datetime | None = None,
    source: str = "cli",
    note: str = "",
) -> TriggerRequest:
    """The PUT of `triggers/<group>` to the bucket at `bucket_url` (no trailing slash)."""
    validate_group_name(group)
    data: dict[str, str] = {"source": source}
    if scheduled_time is not None:
        data["scheduled_time"] = format_time(scheduled_time)
    if note:
        data["note"] = note
    return TriggerRequest(
        url=f"{bucket_url.rstrip('/')}/{TRIGGER_PREFIX}{group}",
        user_agent=user_agent,
        body=json.dumps(data, separators=(",", ":")).encode(),
        headers={"Content-Type": "application/json"},
    )


def render_curl(
    request: TriggerRequest, *, secret_from_env: bool = False, show_headers: bool = False
) -> str:
    """A curl command that sends `request`; with `secret_from_env`, the User-Agent is
    read from $CRONBRIDGE_SECRET instead of being written out; with `show_headers`,
    curl prints the answer's headers (-i), where the local endpoint names the run."""
    agent = f'"${SECRET_VARIABLE}"' if secret_from_env else shlex.quote(request.user_agent)
    parts = ["curl", "-fsS", *(["-i"] if show_headers else []), "-X", request.method, "-A", agent]
    for name, value in request.headers.items():
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    parts += ["--data-binary", shlex.quote(request.body.decode()), shlex.quote(request.url)]
    return " ".join(parts)
