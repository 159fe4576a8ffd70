"""`cronbridge sandbox up` and `cronbridge config from-terraform`: reaching AWS, or a
stand-in for it on this machine."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from bridge.aws.runtime import ENVIRONMENT
from bridge.cli.app import app, home, out, print_json
from bridge.cli.backend import AWS_CONFIG_FILE
from bridge.exceptions import InvalidInput, Unavailable

__all__ = ["REQUIRED_OUTPUTS", "TERRAFORM_OUTPUTS", "config", "doctor", "sandbox"]

sandbox = typer.Typer(
    help="Run the AWS code path on this machine (moto and a Lambda emulator).", no_args_is_help=True
)
config = typer.Typer(help="Point the CLI at an AWS deployment.", no_args_is_help=True)
app.add_typer(sandbox, name="sandbox")
app.add_typer(config, name="config")

#: Terraform output name -> where the CLI keeps it (an environment variable's name)
TERRAFORM_OUTPUTS = {
    "state_bucket": ENVIRONMENT["state_bucket"],
    "trigger_bucket": ENVIRONMENT["trigger_bucket"],
    "ledger_table": ENVIRONMENT["ledger_table"],
    "publisher_function": ENVIRONMENT["publisher_function"],
    "region": "AWS_REGION",
    "trigger_url": "CRONBRIDGE_TRIGGER_URL",
    "user_agent_secret": "CRONBRIDGE_TRIGGER_SECRET",
    "auth_mode": "CRONBRIDGE_AUTH_MODE",
    "dispatcher_function": "CRONBRIDGE_DISPATCHER_FUNCTION",
    "recorder_function": "CRONBRIDGE_RECORDER_FUNCTION",
    "sweeper_function": "CRONBRIDGE_SWEEPER_FUNCTION",
    "results_queue_url": "CRONBRIDGE_RESULTS_QUEUE",
    "event_age_seconds": "CRONBRIDGE_EVENT_AGE_SECONDS",
    "recording_delay_seconds": "CRONBRIDGE_RECORDING_DELAY_SECONDS",
}
#: what a deployment must output; the rest is optional (iam mode has no secret)
REQUIRED_OUTPUTS = (
    "state_bucket",
    "trigger_bucket",
    "ledger_table",
    "publisher_function",
    "region",
)


@sandbox.command("up")
def sandbox_up(
    function: Annotated[
        list[str] | None,
        typer.Option(
            "--function", help="A worker function as NAME=module:function (repeat for more)."
        ),
    ] = None,
    prefix: Annotated[
        str, typer.Option(help="Name prefix of the resources, as in Terraform.")
    ] = "cronbridge",
) -> None:
    """Start moto (S3, DynamoDB, SQS) and a Lambda emulator running our handlers, until Ctrl-C."""
    from bridge.logs import configure_logging
    from bridge.sandbox import DeploymentNames, Sandbox

    functions = {}
    for spec in function or []:
        name, sep, target = spec.partition("=")
        if not sep or not name or ":" not in target:
            raise InvalidInput(f"--function {spec!r} must be NAME=module:function")
        functions[name] = target
    configure_logging()
    box = Sandbox(functions, names=DeploymentNames(prefix))
    env = box.start()
    out.print("AWS sandbox on loopback. Point the CLI (or boto3) at it with:", markup=False)
    for key, value in env.items():
        out.print(f"export {key}={value}", markup=False)
    out.print(
        "note: moto does not evaluate bucket policies. The trigger endpoint above "
        "(CRONBRIDGE_TRIGGER_URL) applies the User-Agent rule itself, and admits a PUT "
        "signed with the credentials above; a PUT made straight to moto's S3 is not checked.",
        markup=False,
    )
    out.print(
        f"functions: {', '.join(functions) or 'none'} (register groups with --target lambda:NAME)",
        markup=False,
    )
    out.print("ready", markup=False)
    sys.stdout.flush()  # whoever reads us through a pipe can go on now
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        stop.wait()
    finally:
        box.stop()


@config.command("from-terraform")
def from_terraform(
    directory: Annotated[Path, typer.Argument(help="The Terraform root that deployed cronbridge.")],
) -> None:
    """Read `terraform output -json` and save what the CLI needs in $CRONBRIDGE_HOME."""
    terraform = shutil.which("terraform")
    if terraform is None:
        raise Unavailable("terraform is not on PATH", hint="install Terraform 1.5 or newer")
    if not directory.is_dir():
        raise InvalidInput(f"{directory} is not a directory")
    done = subprocess.run(  # noqa: S603 - terraform from PATH, arguments are ours
        [terraform, f"-chdir={directory}", "output", "-json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise Unavailable(f"terraform output failed: {last[0]}")
    outputs: dict[str, Any] = json.loads(done.stdout or "{}")
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise InvalidInput(
            f"{directory} has no output(s) {', '.join(missing)}",
            hint="is this the root that uses cronbridge's Terraform module, and was it applied?",
        )
    saved = {
        var: str(outputs[name]["value"])
        for name, var in TERRAFORM_OUTPUTS.items()
        if name in outputs
    }
    the_home = home()
    the_home.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = the_home.root / AWS_CONFIG_FILE
    # It may hold the User-Agent secret: readable by its owner only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(saved, handle, indent=2)
    shown = ", ".join(f"{k}={'(hidden)' if 'SECRET' in k else v}" for k, v in saved.items())
    out.print(f"saved {path}: {shown}", markup=False)
    out.print("use it with --backend aws, or export CRONBRIDGE_BACKEND=aws", markup=False)


def _stop_on_signals(stop: threading.Event) -> None:
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set())


@app.command()
def doctor(
    auth_mode: Annotated[
        str | None,
        typer.Option(help="user_agent, source_ip or iam (default: what Terraform's output says)."),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the findings as JSON: [{subject, ok, detail, fix}, ...]."
        ),
    ] = False,
) -> None:
    """Check an AWS deployment and say how to fix what is wrong.

    Buckets, policy, Block Public Access, notification, functions, ledger table.
    Exit code 1 if anything is wrong."""
    from botocore.exceptions import BotoCoreError, ClientError
    from rich.table import Table
    from rich.text import Text

    from bridge.aws.doctor import AUTH_MODES, Deployment, diagnose, doctor_clients
    from bridge.aws.registry import S3Registry
    from bridge.aws.runtime import AwsSettings
    from bridge.cli.backend import aws_config

    config = aws_config(home())
    settings = AwsSettings.from_env({k: str(v) for k, v in config.items()})
    mode = auth_mode or config.get("CRONBRIDGE_AUTH_MODE")
    if mode not in AUTH_MODES:
        raise InvalidInput(
            f"auth mode must be one of {', '.join(AUTH_MODES)}, not {mode!r}",
            hint="pass --auth-mode, or `cronbridge config from-terraform DIR`",
        )
    clients = doctor_clients(settings.region)  # few retries: doctor reports, it does not wait
    registry = S3Registry(clients("s3"), settings.state_bucket)
    workers = {}
    try:
        for group in registry.list_groups():
            manifest = registry.load_manifest(group)
            if manifest.target.startswith("lambda:"):
                workers[group] = (manifest.target.removeprefix("lambda:"), manifest.controls)
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable(
            f"cannot read the groups in {settings.state_bucket}: {exc}",
            hint="check your AWS credentials and region, or `cronbridge config from-terraform DIR`",
        ) from None
    findings = diagnose(
        clients,
        Deployment(
            settings=settings,
            auth_mode=mode,
            dispatcher_function=config.get("CRONBRIDGE_DISPATCHER_FUNCTION"),
            recorder_function=config.get("CRONBRIDGE_RECORDER_FUNCTION"),
            workers=workers,
            results_queue=config.get("CRONBRIDGE_RESULTS_QUEUE"),
            sweeper_function=config.get("CRONBRIDGE_SWEEPER_FUNCTION"),
            sandbox=bool(config.get("CRONBRIDGE_SANDBOX")),
        ),
    )
    bad = sum(not f.ok for f in findings)
    if as_json:
        print_json([dataclasses.asdict(f) for f in findings])  # subject, ok, detail, fix, ...
        if bad:
            raise typer.Exit(1)
        return
    table = Table("", "what", "found", "to do")
    for finding in findings:
        table.add_row(
            ("skip" if finding.skipped else "ok") if finding.ok else Text("NO", style="red"),
            finding.subject,
            finding.detail,
            finding.fix,
        )
    out.print(table)
    skipped = sum(f.skipped for f in findings)
    out.print(
        f"{len(findings) - bad - skipped} of {len(findings)} checks fine"
        + (f", {skipped} skipped" if skipped else "")
        + (f", {bad} to fix" if bad else "")
    )
    if bad:
        raise typer.Exit(1)
