"""The local adapter family: files, SQLite and threads standing in for S3, DynamoDB and Lambda."""

from bridge.local.home import Home as Home
from bridge.local.lambda_service import LocalLambda as LocalLambda
from bridge.local.ledger import SqliteLedger as SqliteLedger
from bridge.local.registry import FileRegistry as FileRegistry
from bridge.local.runtime import LocalRuntime as LocalRuntime
from bridge.local.server import TriggerServer as TriggerServer

__all__ = ["FileRegistry", "Home", "LocalLambda", "LocalRuntime", "SqliteLedger", "TriggerServer"]
