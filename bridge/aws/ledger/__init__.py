"""The DynamoDB run ledger (DESIGN.md §3.5).

`table` holds the table's definition, its item layout and the calls every record kind
makes; `runs`, `parts`, `results` and `events` the records of each kind, and
`DynamoLedger` is all of them over one table.
"""

from __future__ import annotations

from bridge.aws.ledger.parts import PartRecords
from bridge.aws.ledger.results import ResultRecords
from bridge.aws.ledger.runs import RunRecords
from bridge.aws.ledger.table import LAYOUT, RETENTION_DAYS, table_definition

__all__ = ["LAYOUT", "RETENTION_DAYS", "DynamoLedger", "table_definition"]


class DynamoLedger(RunRecords, PartRecords, ResultRecords):
    """Runs, part markers, send sets, result chunks and run events in one DynamoDB table."""
