"""Names users choose: groups and job lists."""

from __future__ import annotations

import re

from bridge.domain._show import show
from bridge.exceptions import InvalidInput

__all__ = ["NAME_PATTERN", "validate_group_name", "validate_list_name"]

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_RULE = "1-63 characters: lowercase letters, digits and '-', starting with a letter or digit"
_EXAMPLES = {"group": "nightly or eu-orders", "list": "eu or batch-1"}


def _validate(kind: str, name: str) -> str:
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        shown = name if isinstance(name, str) else type(name).__name__
        raise InvalidInput(
            f"invalid {kind} name {show(shown)}: use {_RULE}", hint=f"for example {_EXAMPLES[kind]}"
        )
    return name


def validate_group_name(name: str) -> str:
    return _validate("group", name)


def validate_list_name(name: str) -> str:
    return _validate("list", name)
