"""Checking a group's target where it will run: in the running `cronbridge serve`.

`serve` imports a `python:MODULE:FUNCTION` target in its own process, from the folder
it was started in (like `python -m`, that folder goes first on its sys.path), and calls
`http:` targets from there too. A check made by the registering CLI, in whatever folder
it runs, proves nothing about that. So `groups register` asks the running serve, on its
local endpoint, under the same User-Agent rule as triggers:

    POST /cronbridge/check-target        {"target": "python:worker:handle"}
    200 {"ok": true, "cwd": "/folder/serve/runs/in"}
    200 {"ok": false, "cwd": ..., "code": "InvalidTarget", "message": ..., "hint": ...}

If no serve of this home answers, the CLI checks in its own process and warns that
serve must be started from this folder (or the module made importable from anywhere).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import httpx

from bridge.domain.controls import Controls
from bridge.exceptions import CronbridgeError, InvalidTarget
from bridge.local.home import Endpoint
from bridge.local.targets import check_local_target
from publishers.targets import parse_target

__all__ = [
    "CHECK_TARGET_PATH",
    "answer_target_check",
    "check_target_with_serve",
    "is_target_check",
]

CHECK_TARGET_PATH = "/cronbridge/check-target"
_SERVE_CALLS = ("python", "http")  # the kinds of target serve calls itself
_MAX_REQUEST_BYTES = 4096
_ANSWER_SECONDS = 60.0  # an import may be slow; a check of an http: target takes 2 s at most
_IMPORT_HINT = (
    "serve imports python: targets from the folder it was started in: start `cronbridge "
    "serve` from the folder that holds the module, or make the module importable from "
    "anywhere (for example `pip install -e .` in its project)"
)


def is_target_check(path: str) -> bool:
    return urlsplit(path).path == CHECK_TARGET_PATH


def answer_target_check(request: BaseHTTPRequestHandler) -> None:
    """serve's side (the request is already authorized): check the target right here."""
    try:
        length = int(request.headers.get("Content-Length", ""))
    except ValueError:
        length = -1
    if not 0 <= length <= _MAX_REQUEST_BYTES:
        _answer(request, HTTPStatus.BAD_REQUEST, {"ok": False, "code": "InvalidInput"}, close=True)
        return
    try:
        target = json.loads(request.rfile.read(length))["target"]
        if not isinstance(target, str):
            raise TypeError(target)
    except (ValueError, KeyError, TypeError):
        _answer(request, HTTPStatus.BAD_REQUEST, {"ok": False, "code": "InvalidInput"})
        return
    answer: dict[str, Any] = {"ok": True, "cwd": os.getcwd()}
    try:
        check_local_target(target)
    except CronbridgeError as exc:
        answer.update(ok=False, code=exc.code, message=exc.message, hint=exc.hint)
    _answer(request, HTTPStatus.OK, answer)


def check_target_with_serve(
    target: str,
    controls: Controls | None,
    *,
    endpoint: Endpoint,
    secret: str,
    client: httpx.Client,
    warn: Callable[[str], None],
) -> None:
    """InvalidTarget unless the running serve can call `target`. With no serve of this
    home running, check here and `warn` where serve must be started."""
    kind = parse_target(target).kind  # a malformed target fails here, before any request
    answer = _ask_serve(target, endpoint, secret, client) if kind in _SERVE_CALLS else None
    if answer is None:
        check_local_target(target, controls)
        if kind == "python":
            warn(
                f"no `cronbridge serve` answers at {endpoint.url}, so {target} was imported "
                f"here, in {os.getcwd()}; serve imports it from the folder it is started in, "
                "so start serve from this folder (or make the module importable from anywhere)"
            )
        return
    if answer.get("ok") is True:
        return
    raise InvalidTarget(
        f"{answer.get('message') or 'the target failed its check'} "
        f"(checked by `cronbridge serve` at {endpoint.url}, which runs in {answer.get('cwd')})",
        hint=_IMPORT_HINT if kind == "python" else answer.get("hint"),
    )


def _ask_serve(
    target: str, endpoint: Endpoint, secret: str, client: httpx.Client
) -> dict[str, Any] | None:
    """serve's answer; None when no serve of this home gives one (none listening, another
    home's serve refusing our secret, or a serve from before this check existed)."""
    try:
        response = client.post(
            endpoint.url + CHECK_TARGET_PATH,
            json={"target": target},
            headers={"User-Agent": secret},
            timeout=_ANSWER_SECONDS,
        )
    except httpx.HTTPError:
        return None
    if response.status_code != HTTPStatus.OK:
        return None
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer if isinstance(answer, dict) and "ok" in answer else None


def _answer(
    request: BaseHTTPRequestHandler,
    status: HTTPStatus,
    answer: dict[str, Any],
    *,
    close: bool = False,
) -> None:
    body = json.dumps(answer).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(body)))
    if close:  # the body was not read: never parse it as the next request
        request.close_connection = True
        request.send_header("Connection", "close")
    request.end_headers()
    request.wfile.write(body)
