"""The AWS adapter family: S3 registry, DynamoDB ledger. Standard library and boto3 only."""

from bridge.aws.ledger import DynamoLedger as DynamoLedger
from bridge.aws.registry import S3Registry as S3Registry

__all__ = ["DynamoLedger", "S3Registry"]
