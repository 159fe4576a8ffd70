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


class Serve:
    def __init__(self, tmp_path: Path) -> None:
        self.home = Home.from_env()
        self.evidence = evidence_dir(tmp_path)
        self.env = cli_env(tmp_path)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", "--port", "0", "--workers", "8"],
            env=self.env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(
            target=lambda: [lines.put(line) for line in self.proc.stdout or []], daemon=True
        ).start()
        self.stderr: list[str] = []
        threading.Thread(
            target=lambda: self.stderr.extend(self.proc.stderr or []), daemon=True
        ).start()
        self.banner: list[str] = []
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.banner.append(line)
            match = re.match(r"Listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                break
        else:
            self.stop()
        if not hasattr(self, "url"):
            raise RuntimeError(f"serve did not start: {self.banner} {self.stderr}")
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
