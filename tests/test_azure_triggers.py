"""Azure Logic Apps triggers from Python, through azure-core's transport seam: the ARM
requests (method, path, api-version) and the workflow definition they carry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.pipeline.transport import HttpResponse, HttpTransport
from azure.mgmt.logic import LogicManagementClient

from bridge.cli.app import run_app
from bridge.exceptions import InvalidInput
from bridge.local.home import Home
from triggers.azure import (
    API_VERSION,
    DEFAULT_PREFIX,
    SCHEDULED_TIME,
    Recurrence,
    TriggerWorkflows,
    parse_every,
    workflow_definition,
    workflow_name,
)

SECRET = "user-agent-secret-value"
TRIGGER_URL = "https://acme-triggers.s3.eu-west-1.amazonaws.com/triggers/nightly"
MODULE = Path(__file__).resolve().parents[1] / "terraform" / "modules" / "azure_trigger"


class FakeCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("test-token", 9_999_999_999)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo("test-token", 9_999_999_999)


class _Response(HttpResponse):
    def __init__(self, request: Any, status: int, body: Any) -> None:
        super().__init__(request, None)
        self.status_code = status
        self.reason = "OK"
        self.headers = {"Content-Type": "application/json"}
        self.content_type = "application/json"
        self._body = json.dumps(body).encode() if body is not None else b""

    def body(self) -> bytes:
        return self._body

    def text(self, encoding: str | None = None) -> str:
        return self._body.decode()


class RecordingTransport(HttpTransport):
    """Answers ARM requests from a script and keeps every request it was given."""

    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.requests: list[Any] = []
        self._answers = list(answers)

    def __enter__(self) -> RecordingTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, request: Any, **kwargs: Any) -> _Response:
        self.requests.append(request)
        status, body = self._answers.pop(0)
        return _Response(request, status, body)


def workflows(transport: RecordingTransport, prefix: str = DEFAULT_PREFIX) -> TriggerWorkflows:
    return TriggerWorkflows(
        LogicManagementClient(FakeCredential(), "sub-1", transport=transport), "rg-cron", prefix
    )


WORKFLOW = {
    "id": "/subscriptions/sub-1/x",
    "name": "cronbridge-nightly",
    "location": "westeurope",
    "tags": {"cronbridge-group": "nightly"},
    "properties": {"state": "Enabled"},
}
BASE = "https://management.azure.com/subscriptions/sub-1/resourceGroups/rg-cron/providers/Microsoft.Logic/workflows"


def test_deploy_puts_one_workflow_with_the_schedule_and_the_secret_as_a_secure_parameter() -> None:
    transport = RecordingTransport((200, WORKFLOW))
    recurrence = parse_every("1d", at=["03:00"], time_zone="Tokyo Standard Time")
    workflows(transport).deploy(
        "nightly",
        location="westeurope",
        trigger_url=TRIGGER_URL,
        user_agent=SECRET,
        recurrence=recurrence,
    )
    [request] = transport.requests
    assert request.method == "PUT"
    assert request.url == f"{BASE}/cronbridge-nightly?api-version={API_VERSION}"
    assert API_VERSION == "2019-05-01"
    assert request.headers["Authorization"] == "Bearer test-token"
    sent = json.loads(request.body)
    assert sent["location"] == "westeurope" and sent["tags"] == {"cronbridge-group": "nightly"}
    props = sent["properties"]
    assert props["state"] == "Enabled"
    assert props["parameters"] == {"userAgent": {"type": "SecureString", "value": SECRET}}
    definition = props["definition"]
    assert SECRET not in json.dumps(definition)  # the secret travels only as the secure parameter
    assert definition["parameters"] == {"userAgent": {"type": "SecureString"}}
    assert definition["triggers"]["Schedule"] == {
        "type": "Recurrence",
        "recurrence": {
            "frequency": "Day",
            "interval": 1,
            "timeZone": "Tokyo Standard Time",
            "schedule": {"hours": [3], "minutes": [0]},
        },
    }
    action = definition["actions"]["Put_trigger"]
    assert action["type"] == "Http"
    assert action["inputs"]["method"] == "PUT" and action["inputs"]["uri"] == TRIGGER_URL
    assert action["inputs"]["headers"]["User-Agent"] == "@parameters('userAgent')"
    assert action["inputs"]["body"] == {
        "scheduled_time": "@{coalesce(trigger()?['scheduledTime'], trigger().startTime)}",
        "source": "azure-logic-apps",
    }
    assert (
        action["inputs"]["retryPolicy"]["type"] == "exponential"
        and action["inputs"]["retryPolicy"]["count"] == 4
    )
    assert action["runtimeConfiguration"] == {"secureData": {"properties": ["inputs", "outputs"]}}


def test_the_slot_time_falls_back_to_when_the_trigger_fired() -> None:
    """A run started by hand has no scheduledTime, and an empty scheduled_time is refused
    by the dispatcher: the body names the slot, or else the time the trigger fired."""
    assert SCHEDULED_TIME == "@{coalesce(trigger()?['scheduledTime'], trigger().startTime)}"
    definition = workflow_definition(TRIGGER_URL, Recurrence("Minute", 5))
    body = definition["actions"]["Put_trigger"]["inputs"]["body"]
    assert body["scheduled_time"] == SCHEDULED_TIME
    assert json.dumps(definition).count("scheduledTime") == 1  # nowhere without the fallback


def test_the_terraform_module_deploys_this_very_definition() -> None:
    """The module's own `terraform test` compares its rendered definition with this same
    file (terraform/modules/azure_trigger/tests/nightly.definition.json), so a change to
    either side that the other does not share fails one of the two."""
    fixture = json.loads((MODULE / "tests" / "nightly.definition.json").read_text())
    tftest = (MODULE / "tests" / "logic_app.tftest.hcl").read_text()
    assert 'file("tests/nightly.definition.json")' in tftest
    assert 'trigger_url         = "https://acme-cb-triggers.s3.eu-west-1.amazonaws.com"' in tftest
    assert (
        'nightly = { frequency = "Day", hours = [3], minutes = [0], time_zone = "Tokyo Standard Time" }'
        in tftest
    )
    python = workflow_definition(
        "https://acme-cb-triggers.s3.eu-west-1.amazonaws.com/triggers/nightly",
        parse_every("1d", at=["03:00"], time_zone="Tokyo Standard Time"),
    )
    assert python == fixture


def test_list_shows_only_the_workflows_that_fire_groups() -> None:
    other = {**WORKFLOW, "name": "someone-elses", "tags": {"team": "x"}}
    transport = RecordingTransport((200, {"value": [WORKFLOW, other]}))
    found = [(group, wf.name) for group, wf in workflows(transport).list()]
    assert found == [("nightly", "cronbridge-nightly")]
    assert transport.requests[0].method == "GET"
    assert transport.requests[0].url == f"{BASE}?api-version={API_VERSION}"


def test_list_keeps_to_its_own_prefix_in_a_shared_resource_group() -> None:
    theirs = {**WORKFLOW, "name": "acme-nightly"}
    ours = {**WORKFLOW, "name": "ops-nightly"}
    answer = (200, {"value": [WORKFLOW, theirs, ours]})
    assert [wf.name for _, wf in workflows(RecordingTransport(answer), "ops").list()] == [
        "ops-nightly"
    ]
    assert [wf.name for _, wf in workflows(RecordingTransport(answer)).list()] == [
        "cronbridge-nightly"
    ]


def test_delete_removes_the_groups_workflow() -> None:
    transport = RecordingTransport((200, None))
    workflows(transport).delete("nightly")
    assert (transport.requests[0].method, transport.requests[0].url) == (
        "DELETE",
        f"{BASE}/cronbridge-nightly?api-version={API_VERSION}",
    )


def test_a_prefix_names_the_workflow_it_deploys_and_deletes() -> None:
    transport = RecordingTransport((200, {**WORKFLOW, "name": "ops-nightly"}), (200, None))
    prefixed = workflows(transport, "ops")
    prefixed.deploy(
        "nightly",
        location="westeurope",
        trigger_url=TRIGGER_URL,
        user_agent=SECRET,
        recurrence=Recurrence("Hour", 1),
    )
    prefixed.delete("nightly")
    assert [(r.method, r.url) for r in transport.requests] == [
        ("PUT", f"{BASE}/ops-nightly?api-version={API_VERSION}"),
        ("DELETE", f"{BASE}/ops-nightly?api-version={API_VERSION}"),
    ]
    assert json.loads(transport.requests[0].body)["tags"] == {"cronbridge-group": "nightly"}


def test_workflow_names() -> None:
    assert DEFAULT_PREFIX == "cronbridge"
    assert workflow_name("nightly") == "cronbridge-nightly"
    assert workflow_name("nightly", "acme-cb") == "acme-cb-nightly"
    assert workflow_name("g", "a" * 42) == "a" * 42 + "-g"


@pytest.mark.parametrize(
    ("group", "prefix", "words"),
    [
        ("nightly", "", "--prefix"),
        ("nightly", "Acme", "--prefix"),
        ("nightly", "acme-", "--prefix"),
        ("nightly", "a" * 43, "--prefix"),
        ("Nightly", "acme", "group"),
        ("n" * 63, "a" * 20, "80"),
    ],
)
def test_bad_workflow_names_say_what_is_wrong(group: str, prefix: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        workflow_name(group, prefix)


@pytest.mark.parametrize(
    ("every", "at", "on", "expected"),
    [
        ("5m", [], [], Recurrence("Minute", 5)),
        ("2h", [], [], Recurrence("Hour", 2)),
        ("1d", ["17:30", "08:00"], [], Recurrence("Day", 1, (8, 17), (0, 30))),
        (
            "1w",
            ["06:15"],
            ["monday", "Friday"],
            Recurrence("Week", 1, (6,), (15,), ("Monday", "Friday")),
        ),
    ],
)
def test_schedules(every: str, at: list[str], on: list[str], expected: Recurrence) -> None:
    assert parse_every(every, at=at, on=on) == expected


@pytest.mark.parametrize(
    ("every", "at", "on", "words"),
    [
        ("0m", [], [], "count and a unit"),
        ("5x", [], [], "count and a unit"),
        ("1d", ["25:00"], [], "--at"),
        ("5m", ["03:00"], [], "days or weeks"),
        ("1d", [], ["Monday"], "weeks"),
        ("1w", [], ["Funday"], "day of the week"),
    ],
)
def test_bad_schedules_say_what_is_wrong(
    every: str, at: list[str], on: list[str], words: str
) -> None:
    with pytest.raises(InvalidInput, match=words):
        parse_every(every, at=at, on=on)


def test_definition_is_stable_json() -> None:
    definition = workflow_definition(TRIGGER_URL, Recurrence("Hour", 1))
    assert json.loads(json.dumps(definition)) == definition
    assert definition["$schema"].endswith("/2016-06-01/workflowdefinition.json#")


DEPLOY = [
    "azure",
    "deploy-trigger",
    "nightly",
    "--resource-group",
    "rg",
    "--location",
    "westeurope",
]


def test_cli_says_what_is_missing_before_touching_azure(
    capsys: pytest.CaptureFixture[str], home: Home
) -> None:
    code = run_app([*DEPLOY, "--every", "1d"])
    err = capsys.readouterr().err
    assert code == 2 and "the trigger bucket's URL and User-Agent secret are not configured" in err
    home.root.mkdir(parents=True, exist_ok=True)
    (home.root / "aws.json").write_text(
        json.dumps({"CRONBRIDGE_TRIGGER_BUCKET": "b", "CRONBRIDGE_TRIGGER_SECRET": SECRET})
    )
    code = run_app([*DEPLOY, "--every", "1d"])
    err = capsys.readouterr().err
    assert code == 2 and "no Azure subscription given" in err and SECRET not in err
    code = run_app([*DEPLOY, "--every", "soon"])
    assert code == 2 and "--every 'soon'" in capsys.readouterr().err
    code = run_app([*DEPLOY, "--every", "1d", "--prefix", "Bad_Prefix"])
    assert code == 2 and "--prefix 'Bad_Prefix'" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["list"], ["delete", "nightly"]])
def test_cli_refuses_a_bad_prefix_before_touching_azure(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code = run_app(["azure", *command, "--resource-group", "rg", "--prefix", "-x"])
    assert code == 2 and "--prefix '-x'" in capsys.readouterr().err
