"""Example workers, written as Lambda handlers: `handler(event, context)`.

Register one with `--target python:publishers.examples:checksum`.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["checksum", "echo", "flaky"]


def checksum(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A small real piece of work: 2,000 rounds of SHA-256 over the job's payload."""
    digest = repr(event.get("payload")).encode()
    for _ in range(2000):
        digest = hashlib.sha256(digest).digest()
    return {"job": event["cronbridge"]["job"], "sha256": digest.hex()}


def echo(event: dict[str, Any], context: Any) -> Any:
    """Returns the payload it was given."""
    return event.get("payload")


def flaky(event: dict[str, Any], context: Any) -> Any:
    """Fails when the payload says so: `{"fail": true}` always.

    Useful to see retries, a failed run and `runs redrive`.
    """
    payload = event.get("payload")
    if isinstance(payload, dict) and payload.get("fail"):
        raise RuntimeError(f"job {event['cronbridge']['job']} was told to fail")
    return payload
