"""`cronbridge groups pause` and `groups resume` as a user types them: against a running
`serve` over HTTP, against the AWS code path (the sandbox: moto's server, the Lambda
emulator, the dispatcher handler), and every mistake one message, a hint and exit 2
with nothing changed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from bridge.domain.pause import PAUSED
from bridge.domain.runs import Run, RunState
from bridge.local.home import Home
from bridge.sandbox import Sandbox
from bridge.usecases.pause import pause_group, resume_group
from tests.conftest import numbered_jobs, write_jobs
from tests.e2e.conftest import DEADLINE, Serve
from tests.e2e.test_aws_cli import SandboxProcess
from tests.e2e.test_cli_input import register_args, run, wide_terminal
from tests.e2e.test_sandbox import evidence, restore_environ, start_sandbox
from tests.e2e.test_sandbox import register as register_on_sandbox

__all__ = ["evidence", "restore_environ", "wide_terminal"]  # fixtures shared with those tests

SANDBOX_DEADLINE = 240.0  # bounds a wait so a broken test ends; never a claim about speed


def register(capsys: pytest.CaptureFixture[str], tmp_path: Path, jobs: int = 2) -> None:
    path = write_jobs(tmp_path / f"a-{jobs}.jsonl", numbered_jobs("a", jobs))
    code, _, err = run(capsys, *register_args(lists=f"a={path}"))
    assert code == 0, err


def pointer(home: Home) -> bytes:
    return (home.state_dir / "groups" / "g" / "current.json").read_bytes()


def shown(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code, out, _ = run(capsys, "groups", "show", "g", "--json")
    assert code == 0
    data = json.loads(out)
    listed = json.loads(run(capsys, "groups", "list", "--json")[1])
    assert [{k: v for k, v in g.items() if k.startswith("paused")} for g in listed] == [
        {k: v for k, v in data.items() if k.startswith("paused")}
    ]
    return {k: v for k, v in data.items() if k.startswith("paused")}


def test_pause_show_list_re_register_and_resume(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, home: Home
) -> None:
    register(capsys, tmp_path)
    assert shown(capsys) == {"paused": False, "paused_since": None, "paused_until": None}

    code, out, err = run(capsys, "groups", "pause", "g", "--until", "2026-01-01T00:00:00Z")
    assert code == 2 and "not in the future" in err  # this test runs after that time
    code, out, err = run(capsys, "groups", "pause", "g", "--until", "2h")
    assert (code, err) == (0, "")
    assert out.startswith("g is paused until ") and "runs in flight finish" in out
    state = shown(capsys)
    assert state["paused"] is True and isinstance(state["paused_until"], str)
    assert "paused until " in run(capsys, "groups", "show", "g")[1]
    assert "until " in run(capsys, "groups", "list")[1]

    register(capsys, tmp_path, jobs=3)  # a new version: the group stays paused
    assert shown(capsys) == state
    assert json.loads(pointer(home))["version"] == 2

    code, out, _ = run(capsys, "groups", "resume", "g", "--json")
    assert code == 0
    assert json.loads(out) == {
        "group": "g",
        "paused": False,
        "paused_since": None,
        "paused_until": None,
        "cancelled": [],
    }
    assert pointer(home) == b'{"version": 2}'
    code, out, _ = run(capsys, "groups", "pause", "g", "--json")
    assert code == 0 and json.loads(out)["paused_until"] is None
    assert "paused since " in run(capsys, "groups", "show", "g")[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["groups", "pause", "nope"], "group 'nope' is not registered"),
        (["groups", "resume", "nope"], "group 'nope' is not registered"),
        (["groups", "pause", "Bad_Name"], "invalid group name 'Bad_Name'"),
        (["groups", "pause", "g", "--until", "soon"], "--until: cannot read 'soon'"),
        (["groups", "pause", "g", "--until", "2020-01-01T00:00:00Z"], "is not in the future"),
        (["groups", "pause", "g", "--until", "0"], "is not in the future"),
        (["groups", "pause", "g", "--until", "2026-11-22T03:00"], "--until: cannot read"),
    ],
)
def test_a_mistake_is_one_message_a_hint_exit_2_and_changes_nothing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    home: Home,
    args: list[str],
    message: str,
) -> None:
    register(capsys, tmp_path)
    before = pointer(home)
    code, out, err = run(capsys, *args)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    hints = [line for line in err.splitlines() if line.startswith("hint: ")]
    assert code == 2
    assert len(errors) == 1 and message in errors[0], err
    assert len(hints) == 1 and len(hints[0]) > len("hint: ")
    assert "Traceback" not in out + err
    assert pointer(home) == before
    assert sorted(p.name for p in (home.state_dir / "groups").iterdir()) == ["g"]


def test_serve_records_a_trigger_of_a_paused_group_as_skipped(tmp_path: Path) -> None:
    serve = Serve(tmp_path)
    try:
        path = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))
        target = "python:sample_workers:note"
        done = serve.cli("groups", "register", "g", "--target", target, "--list", f"a={path}")
        assert done.returncode == 0, done.stderr
        paused = serve.cli("groups", "pause", "g", "--until", "1d")
        assert paused.returncode == 0, paused.stderr
        url = f"{serve.bucket_url}/triggers/g"
        headers = {"User-Agent": serve.secret}
        answer = httpx.put(url, headers=headers, timeout=DEADLINE)
        assert answer.status_code == 200
        assert answer.headers["x-cronbridge-decision"] == "skipped"
        assert answer.headers["x-cronbridge-reason"] == PAUSED
        listed = json.loads(serve.cli("runs", "list", "g", "--json").stdout)
        assert [(r["state"], r["reason"]) for r in listed] == [("skipped", PAUSED)]
        assert serve.calls() == []

        assert serve.cli("groups", "resume", "g").returncode == 0
        opened = httpx.put(url, headers=headers, timeout=DEADLINE)
        assert opened.headers["x-cronbridge-decision"] == "opened"
        run = serve.wait_for_run(opened.headers["x-cronbridge-run"])
        assert run.state is RunState.SUCCEEDED
        assert sorted(serve.calls()) == ["a-0", "a-1"]
    finally:
        serve.stop()


@pytest.mark.usefixtures("restore_environ", "evidence")
def test_the_aws_dispatcher_records_a_trigger_of_a_paused_group_as_skipped(
    tmp_path: Path,
) -> None:
    sandbox = start_sandbox()
    try:
        registry, ledger = sandbox.runtime.registry, sandbox.runtime.ledger
        register_on_sandbox(sandbox, tmp_path, {"a": 3})
        pause_group("g", registry=registry, ledger=ledger, clock=sandbox.runtime.clock)
        fire(sandbox, b'{"scheduled_time": "2026-11-22T03:00:00Z"}')
        skipped = wait_for_run(sandbox, "g.20261122T030000Z")
        assert (skipped.state, skipped.reason, skipped.dispatched) == (RunState.SKIPPED, PAUSED, 0)
        assert ledger.open_runs() == []

        resume_group("g", registry=registry)
        fire(sandbox, b'{"scheduled_time": "2026-11-22T04:00:00Z"}')
        done = wait_for_run(sandbox, "g.20261122T040000Z")
        assert done.state is RunState.SUCCEEDED and done.succeeded == 3
    finally:
        sandbox.stop()


def fire(sandbox: Sandbox, body: bytes) -> None:
    """What a scheduler does: one PUT with the secret User-Agent, to the trigger bucket."""
    url = f"{sandbox.env['CRONBRIDGE_TRIGGER_URL']}/triggers/g"
    agent = sandbox.env["CRONBRIDGE_TRIGGER_SECRET"]
    answer = httpx.put(url, content=body, headers={"User-Agent": agent}, timeout=DEADLINE)
    assert answer.status_code == 200, answer.text


def wait_for_run(sandbox: Sandbox, run_id: str) -> Run:
    end = time.monotonic() + SANDBOX_DEADLINE
    while time.monotonic() < end:
        run = sandbox.runtime.ledger.get_run(run_id)
        if run is not None and run.state.finished:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish: {sandbox.runtime.ledger.get_run(run_id)}")


def test_pause_and_resume_with_backend_aws(tmp_path: Path) -> None:
    """The CLI's own path to the S3 registry: `groups pause|show|resume --backend aws`."""
    box = SandboxProcess(tmp_path)
    try:
        path = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 2))
        done = box.cli(
            "groups", "register", "g", "--target", "lambda:worker", "--list", f"a={path}"
        )
        assert done.returncode == 0, done.stderr
        paused = box.cli("groups", "pause", "g", "--until", "3h", "--json")
        assert paused.returncode == 0, paused.stderr
        assert json.loads(paused.stdout)["paused"] is True
        show = json.loads(box.cli("groups", "show", "g", "--json").stdout)
        assert show["paused_until"] == json.loads(paused.stdout)["paused_until"]
        wrong = box.cli("groups", "pause", "g", "--until", "yesterday")
        assert wrong.returncode == 2 and "--until: cannot read 'yesterday'" in wrong.stderr
        assert box.cli("groups", "resume", "g").returncode == 0
        listed = json.loads(box.cli("groups", "list", "--json").stdout)
        assert [(g["group"], g["paused"]) for g in listed] == [("g", False)]
    finally:
        box.stop()
