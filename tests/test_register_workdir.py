"""A python: target is checked where it will run (issue 11, item 5): by the running
`cronbridge serve`, which imports it from the folder serve was started in, whatever
folder `groups register` runs in."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.domain.runs import Run, RunState
from bridge.local.home import Home
from bridge.local.ledger import SqliteLedger
from bridge.local.runtime import LocalRuntime
from bridge.local.server import TriggerServer
from bridge.local.target_check import CHECK_TARGET_PATH
from tests.conftest import numbered_jobs, write_jobs
from tests.e2e.conftest import DEADLINE, cli_env, launch

WORKER = "def handle(event, context):\n    return {'job': event['cronbridge']['job']}\n"
TARGET = "python:folder_only_worker:handle"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The user's folder: their worker module and their job list, nowhere on sys.path."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "folder_only_worker.py").write_text(WORKER)
    write_jobs(folder / "jobs.jsonl", numbered_jobs("j", 2))
    return folder


class Serve:
    def __init__(self, tmp_path: Path, cwd: Path) -> None:
        self.env = cli_env(tmp_path)
        self.proc, banner, self.stderr = launch(
            ["serve", "--port", "0", "--workers", "4"], self.env, cwd, "Listening on "
        )
        match = re.match(r"Listening on (http://\S+)", banner[-1] if banner else "")
        if match is None:
            self.stop()
            raise RuntimeError(f"serve did not start: {banner} {self.stderr}")
        self.url = match.group(1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


@pytest.fixture
def serve_elsewhere(tmp_path: Path) -> Iterator[Serve]:
    folder = tmp_path / "serve-here"
    folder.mkdir()
    server = Serve(tmp_path, folder)
    yield server
    server.stop()


@pytest.fixture
def serve_in_project(tmp_path: Path, project: Path) -> Iterator[Serve]:
    server = Serve(tmp_path, project)
    yield server
    server.stop()


def register(tmp_path: Path, cwd: Path, jobs: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge",
            "groups",
            "register",
            "g",
            "--target",
            TARGET,
            "--list",
            f"a={jobs}",
        ],
        env=cli_env(tmp_path),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def groups(tmp_path: Path) -> list[str]:
    listed = subprocess.run(
        [sys.executable, "-m", "bridge", "groups", "list", "--json"],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=True,
    )
    return [group["group"] for group in json.loads(listed.stdout)]


def wait_for_end(home: Home, run_id: str) -> Run:
    ledger = SqliteLedger(home.ledger_path)
    try:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            run = ledger.get_run(run_id)
            if run is not None and run.state.finished:
                return run
            time.sleep(0.05)
        raise AssertionError(f"run {run_id}: {ledger.get_run(run_id)}")
    finally:
        ledger.close()


def test_a_module_serve_cannot_import_is_refused_with_where_serve_runs(
    serve_elsewhere: Serve, tmp_path: Path, project: Path
) -> None:
    done = register(tmp_path, project, project / "jobs.jsonl")  # imports fine right here
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert "cannot import module 'folder_only_worker'" in message
    assert f"which runs in {tmp_path / 'serve-here'}" in message
    assert "start `cronbridge serve` from the folder that holds the module" in message
    assert "Traceback" not in done.stderr
    assert groups(tmp_path) == []


def test_registered_from_another_folder_the_jobs_run_where_serve_imports_them(
    serve_in_project: Serve, tmp_path: Path, project: Path, home: Home
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = register(tmp_path, elsewhere, project / "jobs.jsonl")  # cannot import it here
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    response = httpx.put(
        f"{serve_in_project.url}/cronbridge-triggers/triggers/g",
        headers={"User-Agent": home.secret()},
        timeout=DEADLINE,
    )
    assert response.status_code == 200, response.text
    run = wait_for_end(home, response.headers["x-cronbridge-run"])
    assert (run.state, run.succeeded, run.failed) == (RunState.SUCCEEDED, 2, 0), run


def test_with_no_serve_running_the_check_is_made_here_with_a_warning(
    tmp_path: Path, project: Path
) -> None:
    done = register(tmp_path, project, project / "jobs.jsonl")
    assert done.returncode == 0, done.stderr
    message = " ".join(done.stderr.split())
    assert "warning:" in message and f"imported here, in {project}" in message
    assert "start serve from this folder" in message

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    refused = register(tmp_path, elsewhere, project / "jobs.jsonl")
    assert refused.returncode == 2
    assert "cannot import module 'folder_only_worker'" in refused.stderr


@pytest.fixture
def server(runtime: LocalRuntime, home: Home) -> Iterator[TriggerServer]:
    srv = TriggerServer(runtime, secret=home.secret(), bucket="b", port=0)
    srv.start()
    yield srv
    srv.stop()


def test_the_check_route_wants_the_secret_and_a_small_json_body(
    server: TriggerServer, home: Home
) -> None:
    url = server.url + CHECK_TARGET_PATH
    secret = {"User-Agent": home.secret()}
    with httpx.Client(timeout=DEADLINE) as client:
        denied = client.post(url, json={"target": "python:publishers.examples:echo"})
        assert denied.status_code == 403
        assert client.post(url, content=b"{", headers=secret).status_code == 400
        assert client.post(url, json={"target": 5}, headers=secret).status_code == 400
        big = client.post(url, json={"target": "x" * 5000}, headers=secret)
        assert big.status_code == 400
        good = client.post(url, json={"target": "python:publishers.examples:echo"}, headers=secret)
        assert good.json() == {"ok": True, "cwd": str(Path.cwd())}
        bad = client.post(url, json={"target": "python:no_such_module_x:f"}, headers=secret)
        answer = bad.json()
        assert answer["ok"] is False and answer["code"] == "InvalidTarget"
        assert "cannot import module 'no_such_module_x'" in answer["message"]
