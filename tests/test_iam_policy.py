"""The IAM evaluator the role policy test relies on (tests/iam_policy.py), and the
sandbox's call recorder: each must fail loudly rather than let a call through."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from bridge.sandbox import Call, CallRecorder
from tests.iam_policy import Policy, Request, Unsupported, requests_for, unused

REGION, ACCOUNT = "us-east-1", "123456789012"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ledger"


def policy(*statements: dict[str, Any]) -> Policy:
    return Policy.parse("p", {"Version": "2012-10-17", "Statement": list(statements)})


def allow(sid: str, action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource, **extra}


def requests(
    operation: str, service: str = "dynamodb", error: str | None = None, **params: Any
) -> list[Request]:
    return requests_for(
        Call("f", service, operation, params, error), region=REGION, account=ACCOUNT
    )


def test_a_transaction_is_authorised_as_its_items_actions() -> None:
    items = [
        {"Put": {"TableName": "ledger", "Item": {}}},
        {"Update": {"TableName": "ledger", "Key": {}}},
        {"Delete": {"TableName": "other", "Key": {}}},
        {"ConditionCheck": {"TableName": "ledger", "Key": {}}},
    ]
    assert [
        (r.action, r.resource) for r in requests("TransactWriteItems", TransactItems=items)
    ] == [
        ("dynamodb:PutItem", TABLE),
        ("dynamodb:UpdateItem", TABLE),
        ("dynamodb:DeleteItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/other"),
        ("dynamodb:ConditionCheckItem", TABLE),
    ]
    [batch] = requests("BatchWriteItem", RequestItems={"ledger": []})
    assert (batch.action, batch.resource) == ("dynamodb:BatchWriteItem", TABLE)
    [query] = requests("Query", TableName="ledger", IndexName="by-group")
    assert query.resource == f"{TABLE}/index/by-group"


def test_s3_sqs_and_lambda_calls_name_their_resources() -> None:
    [get] = requests("GetObject", "s3", Bucket="state", Key="groups/g/current.json")
    assert (get.action, get.resource) == (
        "s3:GetObject",
        "arn:aws:s3:::state/groups/g/current.json",
    )
    [head] = requests("HeadObject", "s3", Bucket="state", Key="k")
    assert head.action == "s3:GetObject"
    [listing] = requests("ListObjectsV2", "s3", Bucket="state", Prefix="groups/")
    assert listing == Request("s3:ListBucket", "arn:aws:s3:::state", {"s3:prefix": "groups/"})
    # A read of a missing key answers NoSuchKey only to a caller who may list the bucket.
    assert requests("GetObject", "s3", "NoSuchKey", Bucket="state", Key="groups/x")[1] == Request(
        "s3:ListBucket", "arn:aws:s3:::state", {"s3:prefix": "groups/x"}
    )
    for url in (
        f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/jobs",
        f"http://127.0.0.1:5000/{ACCOUNT}/jobs",
    ):
        [send] = requests("SendMessageBatch", "sqs", QueueUrl=url, Entries=[])
        region = "eu-west-1" if "amazonaws" in url else REGION
        assert (send.action, send.resource) == (
            "sqs:SendMessage",
            f"arn:aws:sqs:{region}:{ACCOUNT}:jobs",
        )
    [delete] = requests("DeleteMessageBatch", "sqs", QueueUrl=f"http://h/{ACCOUNT}/q", Entries=[])
    assert delete.action == "sqs:DeleteMessage"
    [invoke] = requests("Invoke", "lambda", FunctionName="worker:live")
    assert invoke == Request(
        "lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:worker:live"
    )


def test_an_sns_publish_is_authorised_on_its_topic() -> None:
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:cb-alerts"
    for operation, params in [
        ("Publish", {"TopicArn": topic, "Message": "{}"}),
        ("Publish", {"TargetArn": topic, "Message": "{}"}),
        ("PublishBatch", {"TopicArn": topic, "PublishBatchRequestEntries": []}),
    ]:
        [publish] = requests(operation, "sns", **params)
        assert publish == Request("sns:Publish", topic)
    only = policy(allow("PublishAlerts", "sns:Publish", topic))
    assert only.allowing(Request("sns:Publish", topic))
    assert not only.allowing(Request("sns:Publish", f"{topic}-other"))
    # A text message to a phone number has no topic to check: the test cannot say.
    with pytest.raises(Unsupported, match="sns:Publish"):
        requests("Publish", "sns", PhoneNumber="+15555550100", Message="x")


def test_an_operation_it_cannot_map_fails_loudly() -> None:
    with pytest.raises(Unsupported, match="dynamodb:ExecuteStatement"):
        requests("ExecuteStatement", Statement="SELECT")


def test_actions_match_with_wildcards_and_resources_glob() -> None:
    p = policy(
        allow("Items", "dynamodb:*Item", TABLE),
        allow(
            "Invoke",
            "Lambda:InvokeFunction",
            [
                f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:w",
                f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:w:*",
            ],
        ),
        allow("Payloads", "s3:GetObject", "arn:aws:s3:::state/payloads/?/*"),
    )
    assert p.allowing(Request("dynamodb:PutItem", TABLE))
    assert not p.allowing(Request("dynamodb:Query", TABLE))
    assert not p.allowing(Request("dynamodb:PutItem", f"{TABLE}/index/by-group"))
    assert p.allowing(
        Request("lambda:invokefunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:w:3")
    )
    assert not p.allowing(
        Request("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:w2")
    )
    assert p.allowing(Request("s3:GetObject", "arn:aws:s3:::state/payloads/r/a/j.json"))
    assert not p.allowing(Request("s3:GetObject", "arn:aws:s3:::state/payloads/run/a/j.json"))
    assert not p.allowing(Request("s3:GetObject", "arn:aws:s3:::State/payloads/r/j"))  # case counts
    assert unused(p, [Request("dynamodb:GetItem", TABLE)]) == {
        ("Invoke", "Lambda:InvokeFunction"),
        ("Payloads", "s3:GetObject"),
    }


def test_the_prefix_conditions_the_module_uses_are_evaluated() -> None:
    like = policy(
        allow(
            "L",
            "s3:ListBucket",
            "arn:aws:s3:::state",
            Condition={"StringLike": {"s3:prefix": ["groups/*"]}},
        )
    )
    equals = policy(
        allow(
            "E",
            "s3:ListBucket",
            "arn:aws:s3:::state",
            Condition={"StringEquals": {"s3:prefix": "groups/"}},
        )
    )
    assert like.allowing(
        Request("s3:ListBucket", "arn:aws:s3:::state", {"s3:prefix": "groups/g/x"})
    )
    assert not like.allowing(
        Request("s3:ListBucket", "arn:aws:s3:::state", {"s3:prefix": "payloads/"})
    )
    assert not like.allowing(Request("s3:ListBucket", "arn:aws:s3:::state"))  # no prefix given
    # the sweeper's second listing, of the alert rules, beside the registry's
    alerts = policy(
        allow(
            "A",
            "s3:ListBucket",
            "arn:aws:s3:::state",
            Condition={"StringLike": {"s3:prefix": ["alerts/*"]}},
        )
    )
    for prefix in ("alerts/", "alerts/rules.json"):
        assert alerts.allowing(
            Request("s3:ListBucket", "arn:aws:s3:::state", {"s3:prefix": prefix})
        )
    assert not alerts.allowing(
        Request("s3:ListBucket", "arn:aws:s3:::state", {"s3:prefix": "alerts"})
    )
    assert equals.allowing(Request("s3:ListBucket", "arn:aws:s3:::state", {"s3:prefix": "groups/"}))
    assert not equals.allowing(
        Request("s3:ListBucket", "arn:aws:s3:::state", {"s3:prefix": "groups/g"})
    )


@pytest.mark.parametrize(
    "statement",
    [
        allow("C", "s3:GetObject", "*", Condition={"ArnLike": {"aws:SourceArn": "arn:*"}}),
        allow("C", "s3:GetObject", "*", Condition={"StringLike": {"aws:UserAgent": "*x*"}}),
        {"Sid": "D", "Effect": "Deny", "Action": "s3:*", "Resource": "*"},
        {"Sid": "N", "Effect": "Allow", "NotAction": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},  # no Sid to name it by
    ],
)
def test_a_policy_it_does_not_understand_fails_loudly(statement: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        policy(statement)


def test_the_recorder_records_only_what_a_function_does_while_it_acts(aws: None) -> None:
    recorder = CallRecorder()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bucket")
    recorder.watch(s3.meta.events)
    s3.put_object(Bucket="bucket", Key="outside", Body=b"")  # the CLI's, say: not recorded
    with recorder.acting_as("fn"):
        s3.put_object(Bucket="bucket", Key="k", Body=b"x")
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket="bucket", Key="missing")
    handler = recorder.act("other", lambda event, context: s3.head_object(Bucket="bucket", Key="k"))
    handler({}, None)
    assert [
        (c.function, c.service, c.operation, c.params.get("Key"), c.error) for c in recorder.calls
    ] == [
        ("fn", "s3", "PutObject", "k", None),
        ("fn", "s3", "GetObject", "missing", "NoSuchKey"),
        ("other", "s3", "HeadObject", "k", None),
    ]
    recorder.unwatch(s3.meta.events)
    with recorder.acting_as("fn"):
        s3.head_object(Bucket="bucket", Key="k")
    assert len(recorder.calls) == 3


def test_the_recorder_sees_each_lean_invoke_in_its_callers_context() -> None:
    from publishers.delivery import AsyncInvoker

    class Lean:  # like EventInvokeClient: no botocore events
        def __init__(self) -> None:
            self.sent: list[str] = []

        def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
            self.sent.append(FunctionName)
            return {"StatusCode": 202}

    lean = Lean()
    invoker = AsyncInvoker(lean, threads=4)
    recorder = CallRecorder()
    recorder.watch_invokes(invoker)
    try:
        with recorder.acting_as("publisher"):
            invoker.invoke_all("worker", [b"{}"] * 3)  # in the invoker's own threads
        invoker.invoke_all("worker", [b"{}"])  # outside any function
    finally:
        invoker.close()
    assert lean.sent == ["worker"] * 4
    assert [(c.function, c.operation, c.params["FunctionName"]) for c in recorder.calls] == [
        ("publisher", "Invoke", "worker")
    ] * 3


def test_the_sandbox_records_nothing_unless_asked() -> None:
    from bridge.sandbox import Sandbox

    with pytest.raises(AssertionError, match="record_calls"):
        _ = Sandbox({}).calls
