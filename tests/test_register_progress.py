"""`groups register` shows its progress on stderr when stderr is a terminal, and only
then (issue 11, item 15)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import numbered_jobs, write_jobs

WAIT = 120.0  # bounds a wait so a broken test ends; never a claim about speed


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
    env.update(CRONBRIDGE_HOME=str(tmp_path / "home"), TERM="xterm-256color", COLUMNS="160")
    return env


def register_args(path: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bridge",
        "groups",
        "register",
        "g",
        "--target",
        "python:publishers.examples:echo",
        "--list",
        f"a={path}",
    ]


def test_a_terminal_sees_the_lists_being_read(tmp_path: Path) -> None:
    path = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 20_000))
    controller, terminal = pty.openpty()
    seen = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's last holder closed it
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            register_args(path),
            env=cli_env(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=WAIT,
            check=False,
        )
    finally:
        os.close(terminal)
        reader.join(timeout=WAIT)
        os.close(controller)
    shown = seen.decode(errors="replace")
    assert done.returncode == 0, shown
    assert "registered g v1: 20,000 jobs" in done.stdout
    assert "registering g" in shown and "jobs stored" in shown


def test_a_pipe_gets_no_progress(tmp_path: Path) -> None:
    path = write_jobs(tmp_path / "a.jsonl", numbered_jobs("a", 20_000))
    done = subprocess.run(
        register_args(path),
        env=cli_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "registered g v1: 20,000 jobs" in done.stdout
    assert "registering" not in done.stderr and "\x1b[" not in done.stderr
