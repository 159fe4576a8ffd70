"""The Terraform modules and the example, checked offline against the providers' real
schemas: formatting, validation, the modules' own `terraform test` suites, a full plan
of the example, and agreement with what the Python code expects."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bridge.aws.ledger import table_definition
from bridge.aws.runtime import AwsSettings
from bridge.cli.aws import TERRAFORM_OUTPUTS
from tests.terraform.conftest import MODULES, TERRAFORM_DIR, Terraform
from triggers.azure import (
    GROUP_TAG,
    SCHEDULED_TIME,
    parse_every,
    workflow_definition,
    workflow_name,
)

EXAMPLE = TERRAFORM_DIR / "examples" / "complete"


def test_every_file_is_formatted(terraform: Terraform) -> None:
    done = terraform.run(TERRAFORM_DIR, "fmt", "-check", "-recursive", "-diff", check=False)
    assert done.returncode == 0, f"run `terraform fmt -recursive terraform`:\n{done.stdout}"


@pytest.mark.parametrize("module", MODULES)
def test_validates_against_the_provider_schemas(terraform: Terraform, module: str) -> None:
    directory = TERRAFORM_DIR / module
    terraform.init(directory)
    done = terraform.run(directory, "validate")
    assert "The configuration is valid" in done.stdout


@pytest.mark.parametrize(
    ("file", "original", "broken", "complaint"),
    [
        (
            "functions.tf",
            "memory_size      = each.value.memory",
            "memory_sise      = each.value.memory",
            "Unsupported argument",
        ),
        (
            "monitoring.tf",
            "message_retention_seconds = 1209600",
            'message_retention_seconds = ["14d"]',
            "Incorrect attribute value type",
        ),
        (
            "state.tf",
            "point_in_time_recovery {",
            "point_in_time_recovry {",
            "Unsupported block type",
        ),
    ],
)
def test_a_broken_copy_fails_validation(
    terraform: Terraform, tmp_path: Path, file: str, original: str, broken: str, complaint: str
) -> None:
    """The schema is really consulted: one misspelled name or wrong type fails the build."""
    copy = tmp_path / "aws"
    shutil.copytree(
        TERRAFORM_DIR / "modules" / "aws",
        copy,
        ignore=shutil.ignore_patterns(".terraform", "tests"),
    )
    source = (copy / file).read_text()
    assert original in source
    (copy / file).write_text(source.replace(original, broken))
    terraform.init(copy)
    done = terraform.run(copy, "validate", check=False)
    assert done.returncode != 0
    assert complaint in done.stderr


@pytest.mark.parametrize("module", MODULES)
def test_the_modules_own_tests_pass(terraform: Terraform, module: str) -> None:
    directory = TERRAFORM_DIR / module
    terraform.init(directory)
    done = terraform.run(directory, "test")
    summary = re.search(r"Success! (\d+) passed, 0 failed", done.stdout)
    assert summary, done.stdout
    assert int(summary[1]) >= 3


@pytest.fixture(scope="module")
def example_plan(terraform: Terraform, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A full `terraform plan` of the example, as `terraform show -json` reports it."""
    work = tmp_path_factory.mktemp("plan")
    variables = work / "example.tfvars"
    shutil.copy(EXAMPLE / "terraform.tfvars.example", variables)
    terraform.init(EXAMPLE)
    plan = work / "example.tfplan"
    terraform.run(EXAMPLE, "plan", "-input=false", f"-var-file={variables}", f"-out={plan}")
    shown = terraform.run(EXAMPLE, "show", "-json", str(plan))
    return json.loads(shown.stdout)


def _planned(plan: dict, address: str) -> dict:
    resources = plan["planned_values"]["root_module"]
    stack = [resources]
    while stack:
        module = stack.pop()
        for resource in module.get("resources", []):
            if resource["address"] == address:
                return resource["values"]
        stack.extend(module.get("child_modules", []))
    raise AssertionError(f"{address} is not in the plan")


def test_the_example_outputs_what_config_from_terraform_reads(example_plan: dict) -> None:
    outputs = example_plan["configuration"]["root_module"]["outputs"]
    assert set(TERRAFORM_OUTPUTS) <= set(outputs)
    assert outputs["user_agent_secret"].get("sensitive") is True


def test_the_planned_table_is_the_one_the_ledger_creates(example_plan: dict) -> None:
    table = _planned(example_plan, "module.cronbridge.aws_dynamodb_table.ledger")
    wanted = table_definition(table["name"])
    assert table["name"] == "acme-cronbridge-ledger"
    assert table["billing_mode"] == wanted["BillingMode"]
    assert [table["hash_key"], table["range_key"]] == [
        k["AttributeName"] for k in wanted["KeySchema"]
    ]
    assert sorted((a["name"], a["type"]) for a in table["attribute"]) == sorted(
        (a["AttributeName"], a["AttributeType"]) for a in wanted["AttributeDefinitions"]
    )
    [index] = table["global_secondary_index"]
    [wanted_index] = wanted["GlobalSecondaryIndexes"]
    assert index["name"] == wanted_index["IndexName"]
    assert [index["hash_key"], index["range_key"]] == [
        k["AttributeName"] for k in wanted_index["KeySchema"]
    ]


def test_the_planned_functions_carry_the_deadlines_the_runtime_reads(example_plan: dict) -> None:
    """The sweeper's deadlines count on the workers' event age and the results path's
    delay: the planned environment says both, and the runtime reads them back."""
    for name in ("dispatcher", "publisher", "recorder", "sweeper"):
        function = _planned(example_plan, f'module.cronbridge.aws_lambda_function.core["{name}"]')
        [environment] = function["environment"]
        settings = AwsSettings.from_env(environment["variables"])
        assert settings.event_age == 21600
        # the 5 s batching window plus the results queue's visibility timeout (6 x 60 s)
        assert settings.recording_delay == 2 + 360
        # alerts link to `cronbridge ui`; only the sweeper sends them
        assert ("CRONBRIDGE_CONSOLE_URL" in environment["variables"]) == (name == "sweeper")
        assert settings.console_url == "http://127.0.0.1:8790"
    queue = _planned(example_plan, "module.cronbridge.aws_sqs_queue.results")
    recorder = _planned(example_plan, 'module.cronbridge.aws_lambda_function.core["recorder"]')
    assert queue["visibility_timeout_seconds"] == 6 * recorder["timeout"]
    mapping = _planned(example_plan, "module.cronbridge.aws_lambda_event_source_mapping.results")
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["batch_size"] > 10 and mapping["maximum_batching_window_in_seconds"] >= 1


@pytest.mark.parametrize(
    ("group", "every", "at", "time_zone"),
    [("nightly", "1d", ["03:00"], "Tokyo Standard Time"), ("ticker", "5m", [], "UTC")],
)
def test_terraform_and_the_cli_deploy_the_same_logic_app(
    example_plan: dict, group: str, every: str, at: list[str], time_zone: str
) -> None:
    """`cronbridge azure deploy-trigger` and the module deploy the same workflow definition
    (the example's tfvars schedule nightly and ticker as these `--every`/`--at` do), and the
    same secure parameter binding."""
    deployment = _planned(
        example_plan,
        f'module.schedules.azurerm_resource_group_template_deployment.workflow["{group}"]',
    )
    [workflow] = json.loads(deployment["template_content"])["resources"]
    url = f"https://acme-cronbridge-triggers.s3.placeholder.amazonaws.com/triggers/{group}"
    python = workflow_definition(url, parse_every(every, at=at, time_zone=time_zone))
    assert workflow["properties"]["definition"] == python
    assert python["actions"]["Put_trigger"]["inputs"]["body"]["scheduled_time"] == SCHEDULED_TIME
    assert workflow["properties"]["parameters"] == {
        "userAgent": {"type": "SecureString", "value": "[parameters('userAgent')]"}
    }
    assert workflow["name"] == workflow_name(group, "acme-cronbridge") == deployment["name"]
    assert workflow["tags"][GROUP_TAG] == group


def test_each_logic_app_is_one_resource_and_nothing_rewrites_it(example_plan: dict) -> None:
    """One write per workflow, carrying the secret: no azurerm_logic_app_* resource, whose
    read-modify-write of the workflow would lose the SecureString value."""
    azure = [
        change
        for change in example_plan["resource_changes"]
        if change["address"].startswith("module.schedules.")
    ]
    by_type: dict[str, list[str]] = {}
    for change in azure:
        by_type.setdefault(change["type"], []).append(change["address"])
    assert set(by_type) == {"azurerm_resource_group", "azurerm_resource_group_template_deployment"}
    assert sorted(by_type["azurerm_resource_group_template_deployment"]) == [
        'module.schedules.azurerm_resource_group_template_deployment.workflow["nightly"]',
        'module.schedules.azurerm_resource_group_template_deployment.workflow["ticker"]',
    ]
    for address in by_type["azurerm_resource_group_template_deployment"]:
        deployment = _planned(example_plan, address)
        template = json.loads(deployment["template_content"])
        assert [r["type"] for r in template["resources"]] == ["Microsoft.Logic/workflows"]
        assert template["parameters"] == {"userAgent": {"type": "secureString"}}
        assert deployment["deployment_mode"] == "Incremental"
        change = next(c for c in azure if c["address"] == address)["change"]
        assert change["after_sensitive"]["parameters_content"] is True  # the plan never shows it
    # the secret goes in the same write, as the template parameter's value
    schedules = example_plan["configuration"]["root_module"]["module_calls"]["schedules"]
    [configured] = [
        r
        for r in schedules["module"]["resources"]
        if r["type"] == "azurerm_resource_group_template_deployment"
    ]
    assert configured["expressions"]["parameters_content"]["references"] == [
        "var.user_agent_secret"
    ]


def test_the_example_plans_the_whole_deployment(example_plan: dict) -> None:
    planned = {
        change["address"]
        for change in example_plan["resource_changes"]
        if change["change"]["actions"] == ["create"]
    }
    for address in [
        "module.cronbridge.aws_s3_bucket_notification.trigger",
        'module.cronbridge.aws_lambda_function.core["dispatcher"]',
        'module.cronbridge.aws_lambda_function.core["publisher"]',
        'module.cronbridge.aws_lambda_function.core["recorder"]',
        'module.cronbridge.aws_lambda_function.core["sweeper"]',
        'module.cronbridge.aws_lambda_function_event_invoke_config.worker["resize"]',
        "module.cronbridge.aws_sqs_queue.dlq",
        "module.cronbridge.aws_sqs_queue.results",
        "module.cronbridge.aws_sqs_queue.results_dlq",
        "module.cronbridge.aws_lambda_event_source_mapping.results",
        "module.cronbridge.aws_cloudwatch_event_rule.sweep",
        "module.cronbridge.aws_cloudwatch_event_target.sweep",
        "module.cronbridge.aws_lambda_permission.sweep",
        'module.cronbridge.aws_cloudwatch_metric_alarm.destination_delivery_failures["resize"]',
        'module.cronbridge.aws_cloudwatch_metric_alarm.sweeper["overdue-runs"]',
        'module.cronbridge.aws_cloudwatch_metric_alarm.sweeper["lost-jobs"]',
        'module.cronbridge.aws_cloudwatch_metric_alarm.sweeper["missed-slots"]',
        'module.cronbridge.aws_cloudwatch_metric_alarm.sweeper["alerts-given-up"]',
        "module.cronbridge.aws_cloudwatch_metric_alarm.results_dlq_depth",
        'module.schedules.azurerm_resource_group_template_deployment.workflow["ticker"]',
        "module.cronbridge.aws_sns_topic.alerts",
        "module.cronbridge.aws_sns_topic_policy.alerts",
    ]:
        assert address in planned
    # terraform.tfvars.example leaves alert_email out: nobody is subscribed
    assert not any("aws_sns_topic_subscription" in address for address in planned)
