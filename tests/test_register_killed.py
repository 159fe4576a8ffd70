"""`kill -9` in the middle of re-registering a group (issue 11, item 3): the old version
keeps serving, and the next registration succeeds."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from bridge.domain.controls import Controls
from bridge.local.home import Home
from bridge.local.registry import FileRegistry
from bridge.usecases.register import ListSource, register_group
from tests.conftest import FakeClock, numbered_jobs, write_jobs

# The registration runs in a process of its own, whose registry kills that process
# (SIGKILL, as `kill -9`: no cleanup runs) right after writing the third part.
KILLED_REGISTRATION = """
import os, signal, sys
from pathlib import Path
from bridge.domain.controls import Controls
from bridge.local.registry import FileRegistry
from bridge.ports import SystemClock
from bridge.usecases.register import ListSource, register_group

class DiesAfterThreeParts(FileRegistry):
    def write_part(self, group, version, list_name, part, jobs):
        super().write_part(group, version, list_name, part, jobs)
        if part == 2:
            os.kill(os.getpid(), signal.SIGKILL)

register_group(
    "g",
    "python:publishers.examples:echo",
    [ListSource.from_path("a", Path(sys.argv[2]))],
    Controls(),
    registry=DiesAfterThreeParts(Path(sys.argv[1])),
    clock=SystemClock(),
    check_target=lambda target, controls: None,
)
"""


def register(registry: FileRegistry, clock: FakeClock, path: Path) -> int:
    return register_group(
        "g",
        "python:publishers.examples:echo",
        [ListSource.from_path("a", path)],
        Controls(),
        registry=registry,
        clock=clock,
        check_target=lambda target, controls: None,
    ).version


def test_a_registration_killed_half_way_neither_breaks_nor_locks_the_group(
    home: Home, clock: FakeClock, tmp_path: Path
) -> None:
    registry = FileRegistry(home.state_dir)
    assert register(registry, clock, write_jobs(tmp_path / "v1.jsonl", numbered_jobs("v1", 3))) == 1
    big = write_jobs(tmp_path / "big.jsonl", numbered_jobs("big", 10_000))

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_REGISTRATION, str(home.state_dir), str(big)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (home.state_dir / "groups/g/v2/lists/a/part-2.jsonl").exists()  # it died mid-way
    manifest = registry.load_manifest("g")
    assert manifest.version == 1 and manifest.total_jobs == 3  # the old version serves
    assert [job.id for job in registry.read_part("g", 1, "a", 0)] == ["v1-0", "v1-1", "v1-2"]

    again = register(registry, clock, big)

    assert again == 3 and registry.current_version("g") == 3
    assert registry.load_manifest("g").total_jobs == 10_000
    assert register(registry, clock, big) == 4  # and the one after
