"""A real `cronbridge serve` process on a free loopback port, and the CLI as a user runs it."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge.domain.runs import Run
from bridge.local.home import Home
from bridge.local.ledger import SqliteLedger
from tests.conftest import SUPPORT

DEADLINE = 60.0  # bounds a wait so a broken test ends; never a claim about speed


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(SUPPORT),
        CRONBRIDGE_TEST_EVIDENCE=str(evidence_dir(tmp_path)),
        COLUMNS="200",
    )
    return env


def evidence_dir(tmp_path: Path) -> Path:
    path = tmp_path / "evidence"
    path.mkdir(exist_ok=True)
    return path


def launch(
    args: list[str], env: dict[str, str], cwd: Path, marker: str
) -> tuple[subprocess.Popen[str], list[str], list[str]]:
    """Start `python -m bridge ARGS`; return once a line starts with `marker` (or it died).

    The process, its stdout lines so far (the last one the marker's), and a list that
    keeps collecting its stderr.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True
    ).start()
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(proc.stderr or []), daemon=True).start()
    banner: list[str] = []
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end and not (banner and banner[-1].startswith(marker)):
        try:
            banner.append(lines.get(timeout=0.5))
        except queue.Empty:
            if proc.poll() is not None:
                break
    return proc, banner, stderr


class Serve:
    """`cronbridge serve` on free ports; its web console only when `--ui-port` is given."""

    def __init__(self, tmp_path: Path, *options: str) -> None:
        self.home = Home.from_env()
        self.evidence = evidence_dir(tmp_path)
        self.env = cli_env(tmp_path)
        console = "--ui-port" in options
        self.proc, self.banner, self.stderr = launch(
            [
                "serve",
                "--port",
                "0",
                "--workers",
                "8",
                *(() if console else ("--no-ui",)),
                *options,
            ],
            self.env,
            tmp_path,
            "console: " if console else "Listening on ",
        )
        found = {
            match.group(1): match.group(2)
            for match in map(re.compile(r"(Listening on|console:) (http://\S+)").match, self.banner)
            if match
        }
        if "Listening on" not in found or (console and "console:" not in found):
            self.stop()
            raise RuntimeError(f"serve did not start: {self.banner} {self.stderr}")
        self.url = found["Listening on"]
        self.console_url = found.get("console:")  # the login URL, with its token
        self.bucket_url = f"{self.url}/cronbridge-triggers"
        self.secret = self.home.secret()
        self.ledger = SqliteLedger(self.home.ledger_path)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bridge", *args],
            env=self.env,
            cwd=self.evidence.parent,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )

    def wait_for_run(
        self, run_id: str, done: Callable[[Run], bool] = lambda r: r.state.finished
    ) -> Run:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            run = self.ledger.get_run(run_id)
            if run is not None and done(run):
                return run
            time.sleep(0.02)
        raise AssertionError(f"run {run_id} did not get there: {self.ledger.get_run(run_id)}")

    def calls(self) -> list[str]:
        path = self.evidence / "calls.log"
        return path.read_text().split() if path.exists() else []

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.ledger.close() if hasattr(self, "ledger") else None
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    server = Serve(tmp_path)
    yield server
    server.stop()
    assert server.proc.returncode == 0, "".join(server.stderr)
    logs = "".join(server.stderr)
    assert server.secret not in logs, "the User-Agent secret leaked into a log line"
