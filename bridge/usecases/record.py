"""The recorder: a destination record in, the job's result counted exactly once."""

from __future__ import annotations

from typing import Any

from bridge.domain.results import JobResult, parse_destination_record
from bridge.ports import Ledger

__all__ = ["record_destination"]


def record_destination(record: Any, *, ledger: Ledger) -> tuple[JobResult, bool]:
    """The result and whether it counted (False for a duplicate delivery)."""
    result = parse_destination_record(record)
    return result, ledger.record_result(result)
