"""Azure Logic Apps triggers, deployed from Python (`azure-mgmt-logic` + `azure-identity`).

One Consumption Logic App per group: a Recurrence trigger, and an HTTP action that PUTs
`triggers/<group>` to the trigger bucket with the User-Agent secret and a body carrying
the slot's scheduled time. Azure Scheduler, which the original design used, was retired
on 2022-01-31 (its SDK `azure-mgmt-scheduler` is inactive); Logic Apps replaced it.

The body's `scheduled_time` is SCHEDULED_TIME: the time the Recurrence trigger was
scheduled to fire (`scheduledTime`), or, when the trigger has none (a run started by
hand from the portal), the time the trigger fired (`startTime`). A scheduled run may
start up to a minute off its schedule, but `scheduledTime` names the slot, so the
dispatcher derives one run id per slot whatever the drift or retries. (Microsoft's
expression reference does not describe `scheduledTime`; the runtime's own error text
lists the trigger object's properties as name, startTime, endTime, scheduledTime, ….)

The Terraform module `terraform/modules/azure_trigger` deploys this same definition, in
one write with the secret, as an ARM template; tests compare the two.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.domain.names import validate_group_name
from bridge.domain.schedules import Schedule
from bridge.exceptions import InvalidInput

__all__ = [
    "API_VERSION",
    "DEFAULT_PREFIX",
    "DEFINITION_SCHEMA",
    "GROUP_TAG",
    "SCHEDULED_TIME",
    "Recurrence",
    "TriggerWorkflows",
    "parse_every",
    "recurrence_from_schedule",
    "validate_prefix",
    "workflow_definition",
    "workflow_name",
]

API_VERSION = "2019-05-01"
DEFINITION_SCHEMA = "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#"
GROUP_TAG = "cronbridge-group"
# Logic Apps are named <prefix>-<group>; the Terraform module's name_prefix has the same
# default and the same rule, so two deployments can share a resource group.
DEFAULT_PREFIX = "cronbridge"
_PREFIX = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,40}[a-z0-9])?")
_MAX_NAME = 80  # a Consumption logic app's name, at most
# The slot the trigger fired for; a run started by hand has no scheduledTime, and then
# the time it fired names it instead.
SCHEDULED_TIME = "@{coalesce(trigger()?['scheduledTime'], trigger().startTime)}"
_FREQUENCIES = {"m": "Minute", "h": "Hour", "d": "Day", "w": "Week"}
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_AT = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class Recurrence:
    frequency: str  # Minute | Hour | Day | Week
    interval: int
    hours: tuple[int, ...] = ()
    minutes: tuple[int, ...] = ()
    week_days: tuple[str, ...] = ()
    time_zone: str = "UTC"
    #: when the intervals count from (a rate's anchor), "YYYY-MM-DDThh:mm:ssZ" in UTC
    start_time: str | None = None

    def to_definition(self) -> dict[str, Any]:
        recurrence: dict[str, Any] = {
            "frequency": self.frequency,
            "interval": self.interval,
            "timeZone": self.time_zone,
        }
        if self.start_time is not None:
            recurrence["startTime"] = self.start_time
        schedule: dict[str, Any] = {}
        if self.hours:
            schedule["hours"] = list(self.hours)
        if self.minutes:
            schedule["minutes"] = list(self.minutes)
        if self.week_days:
            schedule["weekDays"] = list(self.week_days)
        if schedule:
            recurrence["schedule"] = schedule
        return recurrence


def parse_every(
    every: str, *, at: Sequence[str] = (), on: Sequence[str] = (), time_zone: str = "UTC"
) -> Recurrence:
    """`--every 5m|2h|1d|1w`, `--at HH:MM` (repeatable), `--on Monday` (repeatable)."""
    match = re.fullmatch(r"(\d+)([mhdw])", every.strip().lower())
    if match is None or int(match.group(1)) < 1:
        raise InvalidInput(
            f"--every {every!r} must be a count and a unit, such as 5m, 2h, 1d or 1w"
        )
    frequency = _FREQUENCIES[match.group(2)]
    hours: set[int] = set()
    minutes: set[int] = set()
    for text in at:
        found = _AT.fullmatch(text.strip())
        if found is None:
            raise InvalidInput(f"--at {text!r} must be a time such as 03:00 or 17:30")
        hours.add(int(found.group(1)))
        minutes.add(int(found.group(2)))
    if at and frequency not in ("Day", "Week"):
        raise InvalidInput("--at works with --every in days or weeks (1d, 1w)")
    days = []
    for day in on:
        named = next((d for d in _DAYS if d.lower() == day.strip().lower()), None)
        if named is None:
            raise InvalidInput(f"--on {day!r} must be a day of the week, such as Monday")
        days.append(named)
    if days and frequency != "Week":
        raise InvalidInput("--on works with --every in weeks (1w)")
    return Recurrence(
        frequency,
        int(match.group(1)),
        tuple(sorted(hours)),
        tuple(sorted(minutes)),
        tuple(days),
        time_zone,
    )


def recurrence_from_schedule(schedule: Schedule, *, time_zone: str | None = None) -> Recurrence:
    """The Logic Apps recurrence that fires at a group's slots, or InvalidInput naming
    the flags to give instead.

    A rate is an interval counted from its anchor (`startTime`, in UTC). A cron line is
    expressible when it is times of day (hours x minutes) on every day or on some days
    of the week: a Day or Week recurrence with `schedule` hours, minutes and weekDays.
    Logic Apps names zones the Windows way ('GMT Standard Time'), so a zone other than
    UTC needs `time_zone`, its Windows name. (How Logic Apps treats the hour that
    daylight saving time skips or repeats is its own affair, not EventBridge's rule.)
    """
    instead = "give the recurrence with --every (and --at, --on), such as --every 1d --at 03:00"
    interval = schedule.interval
    if interval is not None:
        seconds = int(interval.total_seconds())
        frequency, unit = next(
            (name, size)
            for name, size in (("Day", 86400), ("Hour", 3600), ("Minute", 60))
            if seconds % size == 0
        )
        anchor = schedule.anchor
        return Recurrence(
            frequency,
            seconds // unit,
            start_time=None if anchor is None else anchor.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    daily = schedule.daily_times()
    if daily is None:
        raise InvalidInput(
            f"a Logic Apps recurrence cannot express {schedule.expression!r}: only times of day"
            " on every day or on days of the week",
            hint=instead,
        )
    if time_zone is None:
        if schedule.time_zone not in ("UTC", "+00:00", "-00:00"):
            raise InvalidInput(
                f"Logic Apps names time zones the Windows way; the group's is"
                f" {schedule.time_zone!r}: give its Windows name with --time-zone",
                hint="for example --time-zone 'GMT Standard Time' for Europe/London, or"
                " 'Eastern Standard Time' for America/New_York",
            )
        time_zone = "UTC"
    if daily.weekdays is None:
        return Recurrence("Day", 1, daily.hours, daily.minutes, (), time_zone)
    # _DAYS is Monday first; cron's weekdays are Sunday first (0)
    days = tuple(_DAYS[(day - 1) % 7] for day in daily.weekdays)
    return Recurrence("Week", 1, daily.hours, daily.minutes, days, time_zone)


def validate_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or _PREFIX.fullmatch(prefix) is None:
        raise InvalidInput(
            f"--prefix {prefix!r} must be 1-42 characters of a-z, 0-9 and '-', "
            "starting and ending with a letter or digit"
        )
    return prefix


def workflow_name(group: str, prefix: str = DEFAULT_PREFIX) -> str:
    """`<prefix>-<group>`: the Logic App that fires GROUP."""
    name = f"{validate_prefix(prefix)}-{validate_group_name(group)}"
    if len(name) > _MAX_NAME:
        raise InvalidInput(
            f"Logic App name {name!r} is {len(name)} characters; Azure allows {_MAX_NAME}",
            hint="use a shorter --prefix",
        )
    return name


def workflow_definition(trigger_url: str, recurrence: Recurrence) -> dict[str, Any]:
    """The workflow definition. The User-Agent secret is not in it: it is the workflow
    parameter `userAgent` (SecureString), and the action's inputs and outputs are kept
    out of run history."""
    return {
        "$schema": DEFINITION_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {"userAgent": {"type": "SecureString"}},
        "triggers": {"Schedule": {"type": "Recurrence", "recurrence": recurrence.to_definition()}},
        "actions": {
            "Put_trigger": {
                "type": "Http",
                "inputs": {
                    "method": "PUT",
                    "uri": trigger_url,
                    "headers": {
                        "User-Agent": "@parameters('userAgent')",
                        "Content-Type": "application/json",
                    },
                    "body": {"scheduled_time": SCHEDULED_TIME, "source": "azure-logic-apps"},
                    "retryPolicy": {
                        "type": "exponential",
                        "count": 4,
                        "interval": "PT15S",
                        "maximumInterval": "PT1H",
                    },
                },
                "runAfter": {},
                "runtimeConfiguration": {"secureData": {"properties": ["inputs", "outputs"]}},
            }
        },
        "outputs": {},
    }


@dataclass
class TriggerWorkflows:
    """Create, list and delete the Logic Apps that fire cronbridge groups."""

    client: Any  # azure.mgmt.logic.LogicManagementClient
    resource_group: str
    prefix: str = DEFAULT_PREFIX
    _models: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from azure.mgmt.logic import models

        validate_prefix(self.prefix)
        self._models = models

    def deploy(
        self,
        group: str,
        *,
        location: str,
        trigger_url: str,
        user_agent: str,
        recurrence: Recurrence,
    ) -> Any:
        models = self._models
        workflow = models.Workflow(
            location=location,
            tags={GROUP_TAG: group},
            state="Enabled",
            definition=workflow_definition(trigger_url, recurrence),
            parameters={
                "userAgent": models.WorkflowParameter(type="SecureString", value=user_agent)
            },
        )
        return self.client.workflows.create_or_update(
            self.resource_group, workflow_name(group, self.prefix), workflow
        )

    def list(self) -> Iterator[tuple[str, Any]]:
        """The Logic Apps tagged with a group and named `<prefix>-<group>`: this
        deployment's, not another's sharing the resource group."""
        for workflow in self.client.workflows.list_by_resource_group(self.resource_group):
            group = (workflow.tags or {}).get(GROUP_TAG)
            if group and workflow.name == f"{self.prefix}-{group}":
                yield group, workflow

    def delete(self, group: str) -> None:
        self.client.workflows.delete(self.resource_group, workflow_name(group, self.prefix))
