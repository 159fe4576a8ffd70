"""The CLI against AWS, end to end: `cronbridge sandbox up` in its own process, then
`groups register`, the printed curl command, `trigger`, `runs watch` with
`--backend aws`, exactly as a user would against a deployment."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import numbered_jobs, write_jobs
from tests.e2e.conftest import cli_env, launch

DEADLINE = 240.0


class SandboxProcess:
    def __init__(self, tmp_path: Path) -> None:
        self.env = cli_env(tmp_path)
        self.cwd = tmp_path
        self.proc, self.banner, _ = launch(
            [
                "sandbox",
                "up",
                "--function",
                "worker=sample_workers:note",
                "--function",
                "fragile=sample_workers:fail_while_broken",
                "--function",
                "gated=sample_workers:wait_for_gate",
            ],
            self.env,
            tmp_path,
            "ready",
        )
        exports = [
            line.split(" ", 1)[1].strip() for line in self.banner if line.startswith("export ")
        ]
        if not exports:
            self.stop()
            raise RuntimeError(f"sandbox did not start: {self.banner}")
        self.env.update(dict(e.split("=", 1) for e in exports))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bridge", *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    box = SandboxProcess(tmp_path)
    yield box
    box.stop()


def test_register_curl_and_watch_against_the_aws_code_path(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    banner = "".join(sandbox.banner)
    assert "moto does not evaluate bucket policies" in banner
    assert sandbox.env["CRONBRIDGE_BACKEND"] == "aws"
    a = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 60))
    b = write_jobs(tmp_path / "b.jsonl", numbered_jobs("b", 60))
    registered = sandbox.cli(
        "groups",
        "register",
        "g",
        "--target",
        "lambda:worker",
        "--list",
        f"a={a}",
        "--list",
        f"b={b}",
    )
    assert registered.returncode == 0, registered.stderr
    unknown = sandbox.cli("groups", "register", "h", "--target", "lambda:nope", "--list", f"a={a}")
    assert unknown.returncode == 2 and "cannot find Lambda function nope" in unknown.stderr
    # On AWS the worker's own settings are the group's controls: they must agree.
    strict = sandbox.cli(
        "groups",
        "register",
        "h",
        "--target",
        "lambda:worker",
        "--list",
        f"a={a}",
        "--timeout",
        "1m",
        "--max-attempts",
        "2",
    )
    assert strict.returncode == 2, strict.stderr
    assert "worker times out after 5m, but the group's --timeout is 1m" in strict.stderr
    assert "(and 1 more: see `cronbridge doctor`)" in strict.stderr
    assert "register with --timeout 300s" in strict.stderr

    printed = sandbox.cli("curl", "g").stdout.splitlines()
    secret = sandbox.env["CRONBRIDGE_TRIGGER_SECRET"]
    assert len(printed) == 2
    assert f"-A {secret}" in printed[0] and "--aws-sigv4" in printed[1]
    guess = [
        *shlex.split(printed[0].replace(secret, "guess")),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
    ]
    wrong = subprocess.run(guess, capture_output=True, text=True, timeout=60)
    assert wrong.stdout == "403"  # the bucket policy's User-Agent rule
    fired = subprocess.run(shlex.split(printed[0]), capture_output=True, text=True, timeout=60)
    assert fired.returncode == 0, fired.stderr

    end = time.monotonic() + 60
    runs: list[dict[str, object]] = []
    while time.monotonic() < end and not runs:
        runs = json.loads(sandbox.cli("runs", "list", "g", "--json").stdout)
        time.sleep(0.5)
    assert runs, "the curl PUT opened no run"
    watched = sandbox.cli("runs", "watch", str(runs[0]["run"]))
    assert watched.returncode == 0, watched.stderr
    assert "120 succeeded, 0 failed of 120" in watched.stdout

    slot = sandbox.cli("trigger", "g", "--scheduled-time", "2026-11-22T03:00:00Z", "--wait")
    assert slot.returncode == 0, slot.stderr
    assert "run g.20261122T030000Z: opened" in slot.stdout
    assert "run g.20261122T030000Z succeeded: 120 succeeded" in slot.stdout
    again = sandbox.cli("trigger", "g", "--scheduled-time", "2026-11-22T12:00:00+09:00", "--json")
    assert json.loads(again.stdout) == {
        "run": "g.20261122T030000Z",
        "decision": "duplicate",
        "reason": "run exists",
    }
    signed = sandbox.cli(
        "trigger", "g", "--signed", "--scheduled-time", "2026-11-22T04:00:00Z", "--json"
    )
    assert json.loads(signed.stdout)["run"] == "g.20261122T040000Z", signed.stderr
    doctor = sandbox.cli("doctor")  # the auth mode is in `sandbox up`'s exports
    assert doctor.returncode == 0, doctor.stdout  # what the sandbox cannot model is skipped
    assert "skipped: moto cannot start Lambda" in doctor.stdout
    assert "cronbridge-publisher exists with the deployment's environment" in doctor.stdout
    assert "results go to the results queue; settings match the group's" in doctor.stdout
    fragile = [*numbered_jobs("f", 4), {"id": "fragile-1", "payload": {"fragile": True}}]
    listed = write_jobs(tmp_path / "f.jsonl", fragile)
    made = sandbox.cli(
        "groups", "register", "h", "--target", "lambda:fragile", "--list", f"a={listed}"
    )
    assert made.returncode == 0, made.stderr
    (tmp_path / "evidence" / "broken").touch()
    failed = sandbox.cli("trigger", "h", "--wait")
    assert failed.returncode == 1, failed.stderr
    assert "4 succeeded, 1 failed of 5" in failed.stdout
    run_id = failed.stdout.split(":", 1)[0].removeprefix("run ")
    (tmp_path / "evidence" / "broken").unlink()  # the fix lands
    redrive = sandbox.cli("runs", "redrive", run_id, "--wait")
    assert redrive.returncode == 0, redrive.stderr
    assert "redriving 1 failed or lost job(s)" in redrive.stdout
    assert "5 succeeded, 0 failed of 5" in redrive.stdout
    missing = sandbox.cli("trigger", "nope")
    assert missing.returncode == 2 and "group 'nope' is not registered" in missing.stderr

    # Cancel and resume: the first job holds the (one-at-a-time) emulator until the gate
    # opens, so the run is certainly running when it is cancelled.
    gated = write_jobs(tmp_path / "g.jsonl", numbered_jobs("g", 300))
    made = sandbox.cli(
        "groups", "register", "c", "--target", "lambda:gated", "--list", f"a={gated}"
    )
    assert made.returncode == 0, made.stderr
    fired = json.loads(sandbox.cli("trigger", "c", "--json").stdout)
    cancelled = sandbox.cli("runs", "cancel", fired["run"])
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"run {fired['run']} cancelled" in cancelled.stdout
    (tmp_path / "evidence" / "gate").touch()
    resumed = sandbox.cli("runs", "resume", fired["run"], "--wait")
    assert resumed.returncode == 0, resumed.stderr
    assert "300 succeeded, 0 failed of 300" in resumed.stdout


def test_config_from_terraform_reads_real_terraform_outputs(tmp_path: Path) -> None:
    terraform = "terraform"
    root = tmp_path / "deploy"
    root.mkdir()
    (root / "main.tf").write_text(
        "\n".join(
            f'output "{name}" {{\n  value = "{value}"\n{"  sensitive = true" if name == "user_agent_secret" else ""}\n}}'
            for name, value in {
                "state_bucket": "acme-state",
                "trigger_bucket": "acme-triggers",
                "ledger_table": "acme-ledger",
                "publisher_function": "acme-publisher",
                "region": "eu-west-1",
                "user_agent_secret": "s3cr3t-agent",
            }.items()
        )
    )
    env = cli_env(tmp_path) | {"TF_IN_AUTOMATION": "1"}
    for step in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        done = subprocess.run(
            [terraform, f"-chdir={root}", *step],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    saved = subprocess.run(
        [sys.executable, "-m", "bridge", "config", "from-terraform", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert saved.returncode == 0, saved.stderr
    assert (
        "s3cr3t-agent" not in saved.stdout and "CRONBRIDGE_TRIGGER_SECRET=(hidden)" in saved.stdout
    )
    path = Path(env["CRONBRIDGE_HOME"]) / "aws.json"
    assert json.loads(path.read_text()) == {
        "CRONBRIDGE_STATE_BUCKET": "acme-state",
        "CRONBRIDGE_TRIGGER_BUCKET": "acme-triggers",
        "CRONBRIDGE_LEDGER_TABLE": "acme-ledger",
        "CRONBRIDGE_PUBLISHER_FUNCTION": "acme-publisher",
        "AWS_REGION": "eu-west-1",
        "CRONBRIDGE_TRIGGER_SECRET": "s3cr3t-agent",
    }
    assert path.stat().st_mode & 0o777 == 0o600
    curl = subprocess.run(
        [sys.executable, "-m", "bridge", "--backend", "aws", "curl", "nightly"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert curl.returncode == 0, curl.stderr
    assert "https://acme-triggers.s3.eu-west-1.amazonaws.com/triggers/nightly" in curl.stdout
    assert '--aws-sigv4 "aws:amz:eu-west-1:s3"' in curl.stdout
