"""`cronbridge azure ...`: Logic Apps that fire groups on a schedule, without Terraform."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.table import Table

from bridge.cli.app import app, backend, err_console, home, out, print_json
from bridge.cli.commands import HELP_OPTIONS
from bridge.domain.schedules import Schedule
from bridge.exceptions import InvalidInput, Unavailable
from triggers.azure import DEFAULT_PREFIX, Recurrence, recurrence_from_schedule

__all__ = ["azure"]

azure = typer.Typer(
    help="Schedule groups with Azure Logic Apps.\n\nAzure Scheduler was retired on 2022-01-31;"
    " Logic Apps are its named replacement.",
    no_args_is_help=True,
    context_settings=HELP_OPTIONS,
)
app.add_typer(azure, name="azure")

Subscription = Annotated[
    str | None,
    typer.Option(
        "--subscription", metavar="ID", help="Azure subscription id (or AZURE_SUBSCRIPTION_ID)."
    ),
]
ResourceGroup = Annotated[
    str,
    typer.Option("--resource-group", metavar="NAME", help="The resource group of the Logic Apps."),
]
GroupName = Annotated[str, typer.Argument(metavar="GROUP", help="A cronbridge group.")]
Prefix = Annotated[
    str,
    typer.Option(
        "--prefix",
        metavar="PREFIX",
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
    subscription = subscription or os.environ.get("AZURE_SUBSCRIPTION_ID")
    if not subscription:
        raise InvalidInput(
            "no Azure subscription given", hint="pass --subscription or set AZURE_SUBSCRIPTION_ID"
        )
    quiet_azure_logging()
    with azure_errors():
        from azure.identity import DefaultAzureCredential
        from azure.mgmt.logic import LogicManagementClient

        client = LogicManagementClient(DefaultAzureCredential(), subscription)
    return TriggerWorkflows(client, resource_group, prefix)


def quiet_azure_logging() -> None:
    """Keep the Azure SDK's log lines off the terminal: azure-identity logs each
    credential it tried (a dozen lines) before it raises, and `azure_errors` says what
    matters in one. CRONBRIDGE_DEBUG=1 lets them through."""
    if os.environ.get("CRONBRIDGE_DEBUG"):
        return
    logger = logging.getLogger("azure")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logger.propagate = False


@contextlib.contextmanager
def azure_errors() -> Iterator[None]:
    """Azure's errors as one message and a hint: who you are not, or what Azure refused."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

    try:
        yield
    except ClientAuthenticationError:  # CredentialUnavailableError too: no credential found
        raise Unavailable(
            "could not sign in to Azure: no credential DefaultAzureCredential tries was found"
            " or accepted",
            hint="run `az login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and"
            " AZURE_CLIENT_SECRET (CRONBRIDGE_DEBUG=1 shows each credential tried)",
        ) from None
    except HttpResponseError as exc:
        reason = exc.error.message if exc.error else exc.message
        raise Unavailable(
            f"Azure refused: {_first_line(reason)}",
            hint="check --subscription and --resource-group, and that you may manage"
            " Logic Apps there (the Logic App Contributor role)",
        ) from None
    except AzureError as exc:
        raise Unavailable(
            f"Azure could not be reached: {_first_line(exc.message)}",
            hint="check the network connection, and try again",
        ) from None


def _first_line(text: object) -> str:
    return str(text).strip().splitlines()[0] if str(text).strip() else "no reason given"


_EVERY_HELP = "How often: 5m, 2h, 1d, 1w. Without it, the group's --schedule is used."
_ZONE_HELP = (
    "Windows time zone name, such as 'Tokyo Standard Time' (default UTC); with the group's"
    " schedule, the Windows name of its zone."
)


@azure.command("deploy-trigger")
def deploy_trigger(
    group: GroupName,
    resource_group: ResourceGroup,
    location: Annotated[
        str,
        typer.Option(metavar="REGION", help="Azure region of the Logic App, such as westeurope."),
    ],
    every: Annotated[str | None, typer.Option(metavar="INTERVAL", help=_EVERY_HELP)] = None,
    at: Annotated[
        list[str] | None,
        typer.Option(
            "--at", metavar="HH:MM", help="A time of day, with 1d or 1w (repeat for more)."
        ),
    ] = None,
    on: Annotated[
        list[str] | None,
        typer.Option("--on", metavar="DAY", help="A day of the week, with 1w (repeat for more)."),
    ] = None,
    time_zone: Annotated[str | None, typer.Option(metavar="ZONE", help=_ZONE_HELP)] = None,
    prefix: Prefix = DEFAULT_PREFIX,
    subscription: Subscription = None,
) -> None:
    """Create or update the Logic App that fires GROUP on a schedule.

    The Logic App is named PREFIX-GROUP; its Recurrence trigger PUTs triggers/GROUP with
    the User-Agent secret. Without --every, it fires at the slots of the group's own
    schedule (`groups register --schedule`), where a recurrence can express them.
    """
    from bridge.cli.backend import aws_config
    from triggers.azure import parse_every, workflow_name

    name = workflow_name(group, prefix)
    if every is None:
        recurrence, when = _group_recurrence(group, at, on, time_zone)
    else:
        zone = time_zone or "UTC"
        recurrence = parse_every(every, at=at or (), on=on or (), time_zone=zone)
        when = f"every {every}" + (f" at {', '.join(at or [])}" if at else "") + f" ({zone})"
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
    out.print(f"deployed Logic App {name} in {resource_group}: {when}", markup=False)


def _group_recurrence(
    group: str, at: list[str] | None, on: list[str] | None, time_zone: str | None
) -> tuple[Recurrence, str]:
    """The recurrence of GROUP's registered schedule, and how to say it."""
    if at or on:
        raise InvalidInput("--at and --on go with --every", hint="add --every 1d or --every 1w")
    schedule = backend().registry.load_manifest(group).schedule
    if schedule is None:
        raise InvalidInput(
            f"group {group!r} has no schedule to deploy",
            hint="give --every (and --at, --on), or register the group with --schedule",
        )
    recurrence = recurrence_from_schedule(schedule, time_zone=time_zone)
    return recurrence, f"{schedule.expression} ({recurrence.time_zone})"


_TFVARS_ZONE_HELP = (
    "A group zone's Windows name, as ZONE=WINDOWS, such as 'Asia/Tokyo=Tokyo Standard Time'"
    " (repeat for more): Logic Apps names zones the Windows way."
)


@azure.command("tfvars")
def tfvars(
    groups: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="GROUP", help="Groups to write (default: every group with a schedule)."
        ),
    ] = None,
    time_zone: Annotated[
        list[str] | None,
        typer.Option("--time-zone", metavar="ZONE=WINDOWS", help=_TFVARS_ZONE_HELP),
    ] = None,
) -> None:
    """Print the groups' schedules as Terraform variables, for the complete example.

    JSON {"groups": {GROUP: {frequency, interval, hours, minutes, week_days, time_zone}}}
    (and start_time, a rate's anchor), the recurrence `deploy-trigger` would deploy for
    each group's schedule: in terraform/examples/complete, run
    `cronbridge azure tfvars > schedules.auto.tfvars.json`. A group whose schedule a
    recurrence cannot express is left out, with the reason on stderr; exit 1 when none
    could be written.
    """
    zones = _windows_zones(time_zone or [])
    registry = backend().registry
    registered = registry.list_groups()
    names = list(dict.fromkeys(groups)) if groups else sorted(registered)
    written: dict[str, dict[str, Any]] = {}
    for name in names:
        if name not in registered:
            _left_out(name, "no such group is registered")
            continue
        schedule = registry.load_manifest(name).schedule
        if schedule is None:
            if groups:
                _left_out(name, "it has no schedule (register it with --schedule)")
            continue
        try:
            recurrence = _recurrence_for_tfvars(schedule, zones)
        except InvalidInput as exc:
            _left_out(name, exc.message)
            continue
        written[name] = _tfvars_group(recurrence)
    if not written:
        err_console.print("no group's schedule could be written as a recurrence")
        raise typer.Exit(1)
    print_json({"groups": written})


def _windows_zones(pairs: list[str]) -> dict[str, str]:
    zones: dict[str, str] = {}
    for pair in pairs:
        zone, sep, windows = pair.partition("=")
        if not sep or not zone.strip() or not windows.strip():
            raise InvalidInput(
                f"--time-zone {pair!r} must be ZONE=WINDOWS",
                hint="for example --time-zone 'Europe/London=GMT Standard Time'",
            )
        zones[zone.strip()] = windows.strip()
    return zones


def _recurrence_for_tfvars(schedule: Schedule, zones: dict[str, str]) -> Recurrence:
    """deploy-trigger's recurrence for the schedule; a zone other than UTC takes its
    Windows name from `zones`. What cannot be expressed is InvalidInput, the reason."""
    zone = schedule.time_zone
    if zone in zones or zone in ("UTC", "+00:00", "-00:00") or schedule.interval is not None:
        return recurrence_from_schedule(schedule, time_zone=zones.get(zone))
    # The reason a cron line cannot be expressed comes first, then the zone's name.
    recurrence_from_schedule(schedule, time_zone=zone)
    raise InvalidInput(
        f"Logic Apps names time zones the Windows way; the group's is {zone!r}:"
        f" give its Windows name with --time-zone '{zone}=WINDOWS NAME'"
    )


def _tfvars_group(recurrence: Recurrence) -> dict[str, Any]:
    """One entry of the example's `groups` variable (modules/azure_trigger)."""
    entry: dict[str, Any] = {
        "frequency": recurrence.frequency,
        "interval": recurrence.interval,
        "hours": list(recurrence.hours),
        "minutes": list(recurrence.minutes),
        "week_days": list(recurrence.week_days),
        "time_zone": recurrence.time_zone,
    }
    if recurrence.start_time is not None:
        entry["start_time"] = recurrence.start_time
    return entry


def _left_out(group: str, reason: str) -> None:
    err_console.print(f"{group}: left out: {reason}")


@azure.command("list")
def list_triggers(
    resource_group: ResourceGroup,
    prefix: Prefix = DEFAULT_PREFIX,
    subscription: Subscription = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """The Logic Apps that fire cronbridge groups.

    Those of the resource group tagged cronbridge-group and named PREFIX-GROUP.
    """
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
    group: GroupName,
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
