"""`cronbridge serve` as a process: its options checked before anything starts, one serve
per home (and `demo` beside it), and a clean stop on Ctrl-C that the next serve finishes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bridge.domain.runs import RunState
from bridge.local.ledger import SqliteLedger
from tests.conftest import numbered_jobs, write_jobs
from tests.e2e.conftest import DEADLINE, Serve, cli_env, launch


def cronbridge(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        env=cli_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,  # a serve that should have refused to start would run until killed
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--port", "99999"], "--port must be a port number from 0 to 65535, not 99999"),
        (["--port", "-1"], "--port must be a port number from 0 to 65535, not -1"),
        (["--host", "nosuchhost.invalid"], "--host nosuchhost.invalid cannot be resolved"),
        (["--workers", "0"], "--workers must be 1 or more, not 0"),
        (["--sweep-every", "0"], "--sweep-every must be a number of seconds above 0"),
        (["--host", "0.0.0.0"], "would make the trigger endpoint reachable from the network"),
    ],
)
def test_a_bad_serve_option_is_one_message_and_exit_2(
    tmp_path: Path, args: list[str], said: str
) -> None:
    done = cronbridge(tmp_path, "serve", *args)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr
    assert "hint:" in done.stderr and "Traceback" not in done.stderr
    assert "pick another --port" not in done.stderr  # not a port problem
    assert done.stdout == ""


def test_a_remote_host_needs_allow_remote_and_is_warned_about(tmp_path: Path) -> None:
    proc, banner, stderr = launch(
        ["serve", "--port", "0", "--host", "0.0.0.0", "--allow-remote"],
        cli_env(tmp_path),
        tmp_path,
        "Listening on ",
    )
    try:
        assert banner and banner[-1].startswith("Listening on http://0.0.0.0:"), stderr
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end and not any("warning:" in line for line in stderr):
            time.sleep(0.05)
        warning = next(line for line in stderr if "warning:" in line)
        assert "reachable from the network" in warning and "User-Agent secret" in warning
    finally:
        proc.terminate()
        proc.wait(timeout=DEADLINE)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert proc.returncode == 0


def test_a_second_serve_on_the_same_home_is_refused_and_a_killed_one_blocks_nothing(
    tmp_path: Path,
) -> None:
    first = Serve(tmp_path)
    try:
        second = cronbridge(tmp_path, "serve", "--port", "0")
        assert second.returncode == 2, second.stderr
        assert f"is in use by `cronbridge serve` (pid {first.proc.pid}, {first.url})" in (
            second.stderr
        )
        assert "Traceback" not in second.stderr
        endpoint = json.loads((first.home.root / "endpoint.json").read_text())
        assert endpoint["url"] == first.url  # the CLI still reaches the first
        listed = first.cli("runs", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        os.kill(first.proc.pid, signal.SIGKILL)  # no goodbye: the OS lets go of the lock
        first.proc.wait(timeout=DEADLINE)
    finally:
        first.stop()
    third = Serve(tmp_path)
    try:
        answer = httpx.get(f"{third.bucket_url}/triggers/g", timeout=DEADLINE)
        assert answer.status_code == 405
    finally:
        third.stop()
    assert third.proc.returncode == 0


def test_demo_runs_through_the_serve_that_holds_the_home(tmp_path: Path) -> None:
    serve = Serve(tmp_path)
    try:
        done = serve.cli("demo", "--jobs-per-list", "20")
        assert done.returncode == 0, done.stderr
        assert f"is in use by `cronbridge serve` (pid {serve.proc.pid}" in done.stdout
        assert "the demo runs through it" in done.stdout
        assert f"fired PUT {serve.bucket_url}/triggers/demo" in done.stdout
        assert "40 succeeded, 0 failed of 40" in done.stdout
        endpoint = json.loads((serve.home.root / "endpoint.json").read_text())
        assert endpoint["url"] == serve.url
        (run,) = serve.ledger.list_runs("demo", 10)
        assert (run.state, run.succeeded) == (RunState.SUCCEEDED, 40)
    finally:
        serve.stop()
    assert serve.proc.returncode == 0


def test_ctrl_c_mid_run_stops_cleanly_and_the_next_serve_finishes_the_run(
    tmp_path: Path,
) -> None:
    env = cli_env(tmp_path)
    out_path, err_path = tmp_path / "serve.out", tmp_path / "serve.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", "--port", "0", "--workers", "8"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=err,
        )
    try:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end and "Listening on" not in out_path.read_text():
            assert proc.poll() is None, err_path.read_text()
            time.sleep(0.05)
        jobs = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 1500))
        target = "python:sample_workers:slow_note"
        registered = cronbridge(
            tmp_path, "groups", "register", "g", "--target", target, "--list", f"a={jobs}"
        )
        assert registered.returncode == 0, registered.stderr
        run = json.loads(cronbridge(tmp_path, "trigger", "g", "--json").stdout)["run"]
        ledger = SqliteLedger(Path(env["CRONBRIDGE_HOME"]) / "ledger.sqlite3")
        try:
            while time.monotonic() < end:
                progress = ledger.get_run(run)
                if progress is not None and progress.succeeded >= 60:
                    break
                time.sleep(0.02)
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            proc.wait(timeout=DEADLINE)
            interrupted = ledger.get_run(run)
        finally:
            ledger.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said, logged = out_path.read_text(), err_path.read_text()
    assert proc.returncode == 0, logged
    assert "Traceback" not in logged
    assert interrupted is not None and interrupted.state is RunState.RUNNING
    assert f"1 run unfinished ({run}): the next `cronbridge serve` on this home resumes it" in said

    following = Serve(tmp_path)
    try:
        assert f"resuming run {run}" in "".join(following.banner)
        finished = following.wait_for_run(run)
    finally:
        following.stop()
    assert (finished.state, finished.succeeded, finished.failed) == (RunState.SUCCEEDED, 1500, 0)
