"""`cronbridge alerts ...`: tell a webhook or an SNS topic when runs fail, are lost,
missed, late or stuck (bridge.domain.alerts says what is sent; the sweep sends it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bridge.cli.app import app, backend, backend_name, home, out, print_json, require_group
from bridge.cli.commands import HELP_OPTIONS
from bridge.domain.alerts import (
    Alert,
    AlertNotFound,
    DestinationKind,
    checked_group,
    new_alert_id,
    new_secret,
    parse_events,
    parse_sns_topic,
    parse_webhook_url,
    validate_alert_id,
)
from bridge.domain.triggers import format_time
from bridge.exceptions import InvalidInput, Unavailable
from bridge.ports import SystemClock
from bridge.usecases.alerts import SendResult, test_alert

__all__ = ["alerts", "console_url"]

alerts = typer.Typer(
    help="Tell a webhook or an SNS topic when runs fail, are lost, missed, late or stuck.",
    no_args_is_help=True,
    context_settings=HELP_OPTIONS,
)
app.add_typer(alerts, name="alerts")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
AlertId = Annotated[str, typer.Argument(metavar="ID", help="An alert id, as `alerts list` shows.")]
#: a secret read from --secret-file is at least this long
MIN_SECRET = 16
_EVENTS = "failed, lost, missed, late, stuck"


@alerts.command("add")
def add(
    on: Annotated[
        str,
        typer.Option("--on", metavar="EVENTS", help=f"Which events, comma-separated: {_EVENTS}."),
    ],
    group: Annotated[
        str | None,
        typer.Option(metavar="GROUP", help="Only this group's runs (default: every group)."),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(metavar="URL", help="POST each event as signed JSON to this http(s) URL."),
    ] = None,
    sns_topic: Annotated[
        str | None,
        typer.Option(metavar="ARN", help="Publish each event as JSON to this SNS topic."),
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="Webhooks: sign with the secret in this file instead of a new one.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Add an alert: each run event it wants goes to a webhook or an SNS topic, once.

    A webhook's POSTs carry X-Cronbridge-Signature (HMAC-SHA256 under the alert's own
    secret); a new secret is printed once, here, and never again."""
    events = parse_events(on)
    if (webhook is None) == (sns_topic is None):
        raise InvalidInput(
            "give exactly one of --webhook URL and --sns-topic ARN",
            hint="e.g. --webhook https://hooks.example.com/cronbridge",
        )
    if webhook is not None:
        kind, destination = DestinationKind.WEBHOOK, parse_webhook_url(webhook)
        secret = new_secret() if secret_file is None else _read_secret(secret_file)
    else:
        assert sns_topic is not None
        if secret_file is not None:
            raise InvalidInput(
                "--secret-file signs webhooks; SNS signs its own messages",
                hint="leave --secret-file out with --sns-topic",
            )
        kind, destination, secret = DestinationKind.SNS, parse_sns_topic(sns_topic), None
    group = checked_group(group)
    if group is not None:
        require_group(group)
    alert = Alert(
        id=new_alert_id(),
        group=group,
        events=events,
        kind=kind,
        destination=destination,
        created_at=SystemClock().now(),
        secret=secret,
    )
    backend().registry.put_alert(alert)
    shown_once = secret is not None and secret_file is None
    if as_json:
        data = alert.to_dict(with_secret=shown_once)
        print_json(data)
        return
    out.print(f"added alert {alert.id}: {_describe(alert)}", markup=False)
    if shown_once:
        out.print(
            "signing secret (shown once, never again; keep it where your receiver verifies "
            "X-Cronbridge-Signature):",
            markup=False,
        )
        out.print(f"  {secret}", markup=False)
    elif secret_file is not None:
        out.print(f"signing secret: the one in {secret_file}", markup=False)
    out.print(f"send it a test: cronbridge alerts test {alert.id}", markup=False)


@alerts.command("list")
def list_alerts(as_json: JsonOption = False) -> None:
    """Every alert, with what it wants and where it goes (never its secret)."""
    found = backend().registry.list_alerts()
    if as_json:
        print_json([alert.to_dict() for alert in found])
        return
    if not found:
        out.print("no alerts yet: add one with `cronbridge alerts add`", markup=False)
        return
    table = Table("id", "group", "on", "destination", "created")
    table.columns[3].overflow = "fold"  # a URL whole, over lines if need be
    for alert in found:
        table.add_row(
            alert.id,
            alert.group or "(every group)",
            ",".join(sorted(alert.events)),
            f"{alert.kind} {alert.destination}",
            format_time(alert.created_at),
        )
    out.print(table)


@alerts.command("remove")
def remove(alert_id: AlertId) -> None:
    """Remove an alert; events it has not been sent yet are not sent to it."""
    backend().registry.delete_alert(validate_alert_id(alert_id))
    out.print(f"removed alert {alert_id}", markup=False)


@alerts.command("test")
def send_test(alert_id: AlertId, as_json: JsonOption = False) -> None:
    """Send an alert a payload marked as a test, and say what its destination answered.

    Exits 1 when the webhook answers other than 2xx, or cannot be reached."""
    validate_alert_id(alert_id)
    alert = next((a for a in backend().registry.list_alerts() if a.id == alert_id), None)
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id} is set", hint="see `cronbridge alerts list`")
    result = test_alert(alert, None, console_url(), SystemClock().now())
    if as_json:
        print_json(_result_json(alert, result))
        if not result.ok:
            raise typer.Exit(1)
        return
    if result.ok:
        said = f"HTTP {result.status}" if result.status is not None else "accepted"
        tail = f": {result.answer}" if result.answer else ""
        out.print(
            f"alert {alert.id}: {alert.kind} {alert.shown_destination} answered {said}{tail}",
            markup=False,
        )
        return
    tail = f"; it said: {result.answer}" if result.answer else ""
    raise Unavailable(
        f"alert {alert.id}: {alert.kind} {alert.shown_destination} {result.error}{tail}",
        hint="check the URL, and that the receiver answers a POST with 2xx"
        if alert.kind is DestinationKind.WEBHOOK
        else "check the topic ARN, and that your credentials may sns:Publish to it",
    )


def console_url() -> str:
    """Where `cronbridge ui` serves, for the links alerts carry: CRONBRIDGE_CONSOLE_URL,
    else (local) the console's default address on this machine."""
    configured = os.environ.get("CRONBRIDGE_CONSOLE_URL")
    if configured:
        return configured
    if (backend_name() or os.environ.get("CRONBRIDGE_BACKEND")) == "aws":
        from bridge.cli.backend import aws_config

        return str(aws_config(home()).get("CRONBRIDGE_CONSOLE_URL") or "")
    from bridge.cli.serving import UI_PORT

    return f"http://127.0.0.1:{UI_PORT}"


def _read_secret(path: Path) -> str:
    try:
        secret = path.read_text().strip()
    except OSError as exc:
        raise InvalidInput(
            f"cannot read --secret-file {path}: {exc.strerror or exc}",
            hint="a file holding the secret on one line",
        ) from None
    except UnicodeDecodeError:
        raise InvalidInput(f"--secret-file {path} is not text") from None
    if len(secret) < MIN_SECRET or any(ch.isspace() for ch in secret):
        raise InvalidInput(
            f"the secret in {path} must be one word of at least {MIN_SECRET} characters",
            hint="e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE",
        )
    return secret


def _describe(alert: Alert) -> str:
    which = ", ".join(sorted(alert.events))
    whose = f"group {alert.group}" if alert.group else "every group"
    return f"{which} of {whose} -> {alert.kind} {alert.destination}"


def _result_json(alert: Alert, result: SendResult) -> dict[str, Any]:
    return {
        "alert": alert.id,
        "ok": result.ok,
        "status": result.status,
        "error": result.error,
        "answer": result.answer,
    }
