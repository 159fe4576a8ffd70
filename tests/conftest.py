"""Shared fixtures: a clean environment per test, a controllable clock, job-list files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from moto import mock_aws

from bridge.local.home import Home
from bridge.local.runtime import LocalRuntime

SUPPORT = Path(__file__).parent / "support"

# No per-example deadline: a test must never fail because the machine was busy.
# `HYPOTHESIS_PROFILE=long` runs many more examples when there is time to spare.
settings.register_profile("ci", deadline=None, max_examples=200)
settings.register_profile("long", deadline=None, max_examples=20_000)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)
#: Parsers of outside input get more: a few thousand examples each in `make test`,
#: a hundred thousand under `make fuzz` (HYPOTHESIS_PROFILE=long).
fuzz = settings(max_examples=100_000 if PROFILE == "long" else 2_000)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS_*, AZURE_* or CRONBRIDGE_* variable leaks in; every test has its own home."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "AZURE_", "CRONBRIDGE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CRONBRIDGE_HOME", str(tmp_path / "home"))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


class FakeClock:
    """A clock that moves only when told to, or when something sleeps on it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
        self.mono = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
        self.mono += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def write_jobs(path: Path, jobs: list[dict[str, Any]] | list[str]) -> Path:
    """A JSON Lines file: dicts are dumped, strings written as they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [line if isinstance(line, str) else json.dumps(line) for line in jobs]
    path.write_text("".join(line + "\n" for line in lines))
    return path


def numbered_jobs(prefix: str, count: int, **payload: Any) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}-{i}", "payload": {"n": i, **payload}} for i in range(count)]


@pytest.fixture
def runtime(home: Home) -> Iterator[LocalRuntime]:
    rt = LocalRuntime(home, workers=8, retry_delay=0.01)
    yield rt
    rt.close()
