"""The SQLite run ledger: the DynamoDB table's records (DESIGN.md §3.5) in one local file.

`store` holds the schema and the connections; `runs`, `parts`, `results` and `events`
the records of each kind, and `SqliteLedger` is all of them over one file.
"""

from __future__ import annotations

from bridge.local.ledger.events import EventRecords
from bridge.local.ledger.parts import PartRecords
from bridge.local.ledger.results import ResultRecords
from bridge.local.ledger.runs import RunRecords

__all__ = ["SqliteLedger"]


class SqliteLedger(RunRecords, PartRecords, ResultRecords, EventRecords):
    """Runs, part markers, send sets, result chunks and run events in one SQLite file."""
