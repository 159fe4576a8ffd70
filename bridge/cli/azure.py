"""`cronbridge azure ...`: Logic Apps that fire groups on a schedule, without Terraform."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.table import Table

from bridge.cli.app import app, home, out, print_json
from bridge.exceptions import InvalidInput, Unavailable
from triggers.azure import DEFAULT_PREFIX

__all__ = ["azure"]

azure = typer.Typer(
    help="Schedule groups with Azure Logic Apps (Azure Scheduler was retired on 2022-01-31).",
    no_args_is_help=True,
)
app.add_typer(azure, name="azure")

Subscription = Annotated[
    str | None,
    typer.Option("--subscription", help="Azure subscription id (or AZURE_SUBSCRIPTION_ID)."),
]
ResourceGroup = Annotated[
    str, typer.Option("--resource-group", help="The resource group of the Logic Apps.")
]
Prefix = Annotated[
    str,
    typer.Option(
        "--prefix",
        help="Logic Apps are named PREFIX-GROUP (the Terraform module's name_prefix), so two "
        "deployments can share a resource group.",
    ),
]


def open_workflows(
    subscription: str | None, resource_group: str, prefix: str = DEFAULT_PREFIX
) -> Any:
    """The Logic Apps of a resource group, reached with DefaultAzureCredential."""
    from triggers.azure import TriggerWorkflows, validate_prefix

    validate_prefix(prefix)  # before anything reaches for credentials
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.logic import LogicManagementClient

    subscription = subscription or os.environ.get("AZURE_SUBSCRIPTION_ID")
    if not subscription:
        raise InvalidInput(
            "no Azure subscription given", hint="pass --subscription or set AZURE_SUBSCRIPTION_ID"
        )
    client = LogicManagementClient(DefaultAzureCredential(), subscription)
    return TriggerWorkflows(client, resource_group, prefix)


@contextlib.contextmanager
def azure_errors() -> Iterator[None]:
    """Azure's errors as one message: who you are not, or what Azure refused."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

    try:
        yield
    except ClientAuthenticationError:
        raise Unavailable(
            "could not sign in to Azure",
            hint="run `az login`, or set AZURE_CLIENT_ID/TENANT_ID/SECRET",
        ) from None
    except HttpResponseError as exc:
        reason = exc.error.message if exc.error else exc.message
        raise Unavailable(f"Azure refused: {reason}") from None
    except AzureError as exc:
        raise Unavailable(f"Azure could not be reached: {exc.message}") from None


@azure.command("deploy-trigger")
def deploy_trigger(
    group: str,
    resource_group: ResourceGroup,
    location: Annotated[
        str, typer.Option(help="Azure region of the Logic App, such as westeurope.")
    ],
    every: Annotated[str, typer.Option(help="How often: 5m, 2h, 1d, 1w.")],
    at: Annotated[
        list[str] | None, typer.Option("--at", help="Times of day, HH:MM (repeat), with 1d or 1w.")
    ] = None,
    on: Annotated[
        list[str] | None, typer.Option("--on", help="Days of the week (repeat), with 1w.")
    ] = None,
    time_zone: Annotated[
        str, typer.Option(help="Windows time zone name, such as 'Tokyo Standard Time'.")
    ] = "UTC",
    prefix: Prefix = DEFAULT_PREFIX,
    subscription: Subscription = None,
) -> None:
    """Create or update the Logic App PREFIX-GROUP that PUTs triggers/GROUP on this schedule."""
    from bridge.cli.backend import aws_config
    from triggers.azure import parse_every, workflow_name

    name = workflow_name(group, prefix)
    recurrence = parse_every(every, at=at or (), on=on or (), time_zone=time_zone)
    config = aws_config(home())
    bucket_url = config.get("CRONBRIDGE_TRIGGER_URL") or (
        f"https://{config['CRONBRIDGE_TRIGGER_BUCKET']}.s3.{config.get('AWS_REGION', 'us-east-1')}.amazonaws.com"
        if config.get("CRONBRIDGE_TRIGGER_BUCKET")
        else None
    )
    secret = config.get("CRONBRIDGE_TRIGGER_SECRET")
    if not bucket_url or not secret:
        raise InvalidInput(
            "the trigger bucket's URL and User-Agent secret are not configured",
            hint="run `cronbridge config from-terraform DIR` for a user_agent or source_ip deployment",
        )
    workflows = open_workflows(subscription, resource_group, prefix)
    with azure_errors():
        workflows.deploy(
            group,
            location=location,
            trigger_url=f"{str(bucket_url).rstrip('/')}/triggers/{group}",
            user_agent=str(secret),
            recurrence=recurrence,
        )
    out.print(
        f"deployed Logic App {name} in {resource_group}: every {every}"
        + (f" at {', '.join(at or [])}" if at else "")
        + f" ({time_zone})",
        markup=False,
    )


@azure.command("list")
def list_triggers(
    resource_group: ResourceGroup,
    prefix: Prefix = DEFAULT_PREFIX,
    subscription: Subscription = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """The Logic Apps of RESOURCE_GROUP that fire cronbridge groups: tagged cronbridge-group
    and named PREFIX-GROUP."""
    workflows = open_workflows(subscription, resource_group, prefix)
    with azure_errors():
        found = [
            {"group": group, "workflow": wf.name, "state": wf.state, "location": wf.location}
            for group, wf in workflows.list()
        ]
    if as_json:
        print_json(found)
        return
    table = Table("group", "logic app", "state", "location")
    for row in found:
        table.add_row(row["group"], row["workflow"], str(row["state"]), str(row["location"]))
    out.print(table)


@azure.command("delete")
def delete_trigger(
    group: str,
    resource_group: ResourceGroup,
    prefix: Prefix = DEFAULT_PREFIX,
    subscription: Subscription = None,
) -> None:
    """Delete the Logic App PREFIX-GROUP that fires GROUP."""
    from triggers.azure import workflow_name

    name = workflow_name(group, prefix)
    workflows = open_workflows(subscription, resource_group, prefix)
    with azure_errors():
        workflows.delete(group)
    out.print(f"deleted Logic App {name}", markup=False)
