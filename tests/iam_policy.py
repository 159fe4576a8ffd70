"""Enough of IAM to check recorded AWS calls against identity policies.

`requests_for` turns one call (a `bridge.sandbox.Call`) into the authorisation requests
AWS makes for it: the IAM action, the resource's ARN and the condition keys a policy
may test. A read of a missing S3 key is one more: S3 answers it NoSuchKey only to a
caller that may also list the bucket (s3:ListBucket), and AccessDenied to any other
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). We take that
check to carry the key as `s3:prefix`, so a ListBucket statement conditioned on a
prefix covers the keys under it. `Policy.decide` evaluates a request against a policy's statements: Allow
statements only, actions with IAM's wildcards (case-insensitive), resources with IAM's
globbing (`*` and `?`, case-sensitive), and the condition operators the module uses
(`StringLike`, `StringEquals`) on the keys requests carry. Anything else in a policy
(Deny, NotAction, NotResource, another operator or key) raises `Unsupported`, so a
change to the module cannot be waved through by an evaluator that does not understand it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bridge.sandbox import Call

__all__ = ["Policy", "Request", "Unsupported", "requests_for"]


class Unsupported(AssertionError):
    """A call or a policy this evaluator does not understand: teach it, never skip it."""


@dataclass(frozen=True)
class Request:
    action: str  # "dynamodb:PutItem"
    resource: str  # an ARN
    keys: Mapping[str, str] = field(default_factory=dict)  # condition keys: {"s3:prefix": ...}

    def __str__(self) -> str:
        keys = "".join(f" [{k}={v!r}]" for k, v in sorted(self.keys.items()))
        return f"{self.action} on {self.resource}{keys}"


# -- calls to requests -------------------------------------------------------------------

_DYNAMODB_ITEM = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "ConditionCheckItem",
    "DescribeTable",
}
#: a transaction is authorised as its items' own actions
_TRANSACT_ITEM = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
_S3 = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
    "CopyObject": "s3:PutObject",
}
#: how S3 answers a read of a key that is not there, to a caller that may list the bucket
_MISSING = {"NoSuchKey", "404", "NotFound"}
_SQS = {
    "SendMessage": "sqs:SendMessage",
    "SendMessageBatch": "sqs:SendMessage",
    "ReceiveMessage": "sqs:ReceiveMessage",
    "DeleteMessage": "sqs:DeleteMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibility": "sqs:ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "GetQueueAttributes": "sqs:GetQueueAttributes",
}


def requests_for(call: Call, *, region: str, account: str, partition: str = "aws") -> list[Request]:
    """The requests AWS authorises for `call`; Unsupported for an operation not mapped here."""
    p = call.params
    if call.service == "dynamodb":

        def table(name: str, index: str | None = None) -> str:
            arn = f"arn:{partition}:dynamodb:{region}:{account}:table/{name}"
            return f"{arn}/index/{index}" if index else arn

        if call.operation in _DYNAMODB_ITEM:
            return [
                Request(f"dynamodb:{call.operation}", table(p["TableName"], p.get("IndexName")))
            ]
        if call.operation in ("BatchWriteItem", "BatchGetItem"):
            return [
                Request(f"dynamodb:{call.operation}", table(name)) for name in p["RequestItems"]
            ]
        if call.operation in ("TransactWriteItems", "TransactGetItems"):
            requests = []
            for item in p["TransactItems"]:
                [(kind, body)] = item.items()
                requests.append(
                    Request(f"dynamodb:{_TRANSACT_ITEM[kind]}", table(body["TableName"]))
                )
            return requests
    if call.service == "s3":
        bucket = f"arn:{partition}:s3:::{p['Bucket']}"
        if call.operation in _S3:
            read = Request(_S3[call.operation], f"{bucket}/{p['Key']}")
            if call.operation in ("GetObject", "HeadObject") and call.error in _MISSING:
                return [read, Request("s3:ListBucket", bucket, {"s3:prefix": p["Key"]})]
            return [read]
        if call.operation in ("ListObjectsV2", "ListObjects"):
            return [Request("s3:ListBucket", bucket, {"s3:prefix": p.get("Prefix", "")})]
    if call.service == "sqs" and call.operation in _SQS:
        return [Request(_SQS[call.operation], queue_arn(p["QueueUrl"], region, partition))]
    if call.service == "sns" and call.operation in ("Publish", "PublishBatch"):
        # Publish names its topic as TopicArn or TargetArn (a phone number, PhoneNumber,
        # has no resource); a batch is authorised as sns:Publish on its topic.
        topic = p.get("TopicArn") or p.get("TargetArn")
        if topic:
            return [Request("sns:Publish", topic)]
    if call.service == "lambda" and call.operation == "Invoke":
        return [
            Request(
                "lambda:InvokeFunction", function_arn(p["FunctionName"], region, account, partition)
            )
        ]
    raise Unsupported(
        f"no IAM mapping for {call.service}:{call.operation} (made by {call.function}): "
        "add its action and resource to tests/iam_policy.py"
    )


def queue_arn(url: str, region: str, partition: str = "aws") -> str:
    """`https://sqs.<region>.amazonaws.com/<account>/<name>` (or moto's, on loopback)."""
    parts = urlsplit(url)
    account, name = parts.path.strip("/").split("/")
    host = (parts.hostname or "").split(".")
    if len(host) > 2 and host[0] == "sqs":
        region = host[1]
    return f"arn:{partition}:sqs:{region}:{account}:{name}"


def function_arn(name: str, region: str, account: str, partition: str = "aws") -> str:
    """A name, `name:qualifier`, or an ARN, as Lambda's FunctionName takes it."""
    if name.startswith("arn:"):
        return name
    return f"arn:{partition}:lambda:{region}:{account}:function:{name}"


# -- policies ----------------------------------------------------------------------------


@functools.cache
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's globbing: `*` is any run of characters (`/` and `:` too), `?` one character."""
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Mapping[str, Any]]

    @classmethod
    def parse(cls, where: str, raw: Mapping[str, Any]) -> Statement:
        unknown = set(raw) - {"Sid", "Effect", "Action", "Resource", "Condition"}
        if unknown or raw.get("Effect") != "Allow":
            raise Unsupported(
                f"{where}: only Allow statements of Action, Resource and Condition are "
                f"understood here, not {raw}"
            )
        for operator, keys in raw.get("Condition", {}).items():
            if operator not in ("StringLike", "StringEquals") or set(keys) - {"s3:prefix"}:
                raise Unsupported(
                    f"{where}: condition {operator} {sorted(keys)} is not understood here; "
                    "teach tests/iam_policy.py what it means before relying on it"
                )
        return cls(
            sid=str(raw.get("Sid", "")),
            actions=tuple(_listed(raw["Action"])),
            resources=tuple(_listed(raw["Resource"])),
            condition=raw.get("Condition", {}),
        )

    def action_matching(self, request: Request) -> str | None:
        """The first of this statement's actions that covers the request's, if any."""
        return next((a for a in self.actions if matches(a, request.action, ignore_case=True)), None)

    def allows(self, request: Request) -> bool:
        if self.action_matching(request) is None:
            return False
        if not any(matches(r, request.resource) for r in self.resources):
            return False
        for operator, keys in self.condition.items():
            for key, wanted in keys.items():
                value = request.keys.get(key)
                if value is None:  # a key the request does not carry: the condition fails
                    return False
                if operator == "StringEquals" and value not in _listed(wanted):
                    return False
                if operator == "StringLike" and not any(matches(w, value) for w in _listed(wanted)):
                    return False
        return True


@dataclass(frozen=True)
class Policy:
    name: str
    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, name: str, document: Mapping[str, Any]) -> Policy:
        statements = tuple(
            Statement.parse(f"{name} statement {i}", raw)
            for i, raw in enumerate(_listed(document["Statement"]))
        )
        sids = [s.sid for s in statements]
        if "" in sids or len(set(sids)) != len(sids):
            raise Unsupported(f"{name}: every statement needs a Sid of its own, to be named here")
        return cls(name, statements)

    def allowing(self, request: Request) -> list[Statement]:
        """The statements that allow `request` (none: it is denied)."""
        return [s for s in self.statements if s.allows(request)]

    def actions(self) -> Iterator[tuple[str, str]]:
        """(Sid, action) for every action of every statement."""
        for statement in self.statements:
            for action in statement.actions:
                yield statement.sid, action


def unused(policy: Policy, granted: Sequence[Request]) -> set[tuple[str, str]]:
    """(Sid, action) of `policy` that allowed none of `granted`."""
    used = set()
    for request in granted:
        for statement in policy.allowing(request):
            action = statement.action_matching(request)
            assert action is not None
            used.add((statement.sid, action))
    return set(policy.actions()) - used
