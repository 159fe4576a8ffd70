"""How the local runtime calls a group's target: `python:` in-process, `http:` with httpx."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

from bridge.domain.controls import Controls
from bridge.exceptions import InvalidTarget
from publishers.targets import Handler, TargetSpec, load_python_handler, parse_target

__all__ = ["HttpTarget", "check_local_target", "local_handler"]

_CONNECT_CHECK_SECONDS = 2.0


class HttpTargetError(Exception):
    """An http target answered with an error status."""


class HttpTarget:
    """POSTs the envelope as JSON; a 2xx answer is success, anything else a failed attempt."""

    def __init__(self, url: str, client: httpx.Client) -> None:
        self.url = url
        self._client = client

    def __call__(self, event: Any, context: Any) -> Any:
        timeout = max(0.001, context.get_remaining_time_in_millis() / 1000)
        try:
            response = self._client.post(self.url, json=event, timeout=timeout)
        except httpx.HTTPError as exc:
            raise HttpTargetError(
                f"could not reach {self.url}: {type(exc).__name__}: {exc}"
            ) from None
        if not response.is_success:
            raise HttpTargetError(
                f"{self.url} answered HTTP {response.status_code}: {response.text[:200]}"
            )
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text or None


def local_handler(target: str, client: httpx.Client) -> Handler:
    spec = parse_target(target)
    if spec.kind == "python":
        return load_python_handler(spec)
    if spec.kind == "http":
        return HttpTarget(spec.address, client)
    raise _cloud_only(spec)


def check_local_target(target: str, controls: Controls | None = None) -> None:
    """InvalidTarget unless the local runtime can call `target` right now (the local
    runtime honours every control itself)."""
    spec = parse_target(target)
    if spec.kind == "python":
        load_python_handler(spec)
    elif spec.kind == "http":
        parts = urlsplit(spec.address)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname, port), timeout=_CONNECT_CHECK_SECONDS):
                pass
        except OSError as exc:
            raise InvalidTarget(
                f"cannot reach target {spec.address}: {exc.strerror or exc}",
                hint="start the service first, or check the host and port",
            ) from None
    else:
        raise _cloud_only(spec)


def _cloud_only(spec: TargetSpec) -> InvalidTarget:
    return InvalidTarget(
        f"target {spec} runs on AWS only; the local runtime calls python: and http: targets",
        hint="use python:MODULE:FUNCTION (your Lambda handler) or http://... locally",
    )
