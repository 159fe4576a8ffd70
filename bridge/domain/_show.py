"""Showing user-supplied text inside messages."""

from __future__ import annotations

__all__ = ["show"]


def show(text: str, limit: int = 70) -> str:
    """`text` quoted, cut to `limit` characters, control characters escaped by repr."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
