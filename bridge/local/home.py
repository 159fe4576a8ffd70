"""The local home directory: `$CRONBRIDGE_HOME`, by default `~/.cronbridge`.

One runtime at a time uses a home: `cronbridge serve` (or `demo`) holds an OS lock on
`<home>/runtime.lock` for its whole life, and writes who it is into it. The OS lets go
of the lock when the process ends however it ends (`kill -9` included), so a crashed
serve never blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bridge.exceptions import Conflict

__all__ = ["DEFAULT_BUCKET", "DEFAULT_PORT", "Endpoint", "Holder", "Home", "HomeLock"]

DEFAULT_PORT = 8787
DEFAULT_BUCKET = "cronbridge-triggers"


@dataclass(frozen=True)
class Endpoint:
    url: str  # e.g. http://127.0.0.1:8787
    bucket: str

    @property
    def bucket_url(self) -> str:
        """Path-style, as S3 addresses a bucket on a custom endpoint."""
        return f"{self.url}/{self.bucket}"

    def trigger_url(self, group: str) -> str:
        return f"{self.bucket_url}/triggers/{group}"


@dataclass(frozen=True)
class Holder:
    """The process that holds a home's runtime lock."""

    pid: int
    command: str  # "serve" | "demo"
    url: str  # where its endpoint listens; "" until it does

    def describe(self) -> str:
        if not self.command:
            return "another cronbridge process"
        where = f", {self.url}" if self.url else ""
        return f"`cronbridge {self.command}` (pid {self.pid}{where})"


class HomeLock:
    """A held runtime lock on a home; `release()` (or the process's end) lets go."""

    def __init__(self, fd: int, command: str) -> None:
        self._fd = fd
        self._command = command
        self.announce("")

    def announce(self, url: str) -> None:
        """Say who holds the home, and where its endpoint listens."""
        text = json.dumps({"pid": os.getpid(), "command": self._command, "url": url})
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text.encode(), 0)

    def release(self) -> None:
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = -1


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Home:
        env = os.environ if env is None else env
        configured = env.get("CRONBRIDGE_HOME")
        return cls(Path(configured).expanduser() if configured else Path.home() / ".cronbridge")

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def ledger_path(self) -> Path:
        return self.root / "ledger.sqlite3"

    def secret(self) -> str:
        """The User-Agent secret, made on first use and readable by its owner only."""
        path = self.root / "secret"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        value = "cronbridge-" + secrets.token_urlsafe(24)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        return value

    def endpoint(self) -> Endpoint:
        """Where `cronbridge serve` listens: what it last wrote, else the default."""
        try:
            data = json.loads((self.root / "endpoint.json").read_text())
            return Endpoint(url=data["url"], bucket=data["bucket"])
        except (FileNotFoundError, ValueError, KeyError):
            return Endpoint(url=f"http://127.0.0.1:{DEFAULT_PORT}", bucket=DEFAULT_BUCKET)

    def save_endpoint(self, endpoint: Endpoint) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.root / "endpoint.json.tmp"
        tmp.write_text(json.dumps({"url": endpoint.url, "bucket": endpoint.bucket}))
        tmp.replace(self.root / "endpoint.json")

    # -- one runtime per home ----------------------------------------------------------

    @property
    def lock_path(self) -> Path:
        return self.root / "runtime.lock"

    def lock_runtime(self, command: str) -> HomeLock:
        """Hold this home for a runtime (`serve`, `demo`); Conflict if another holds it."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise self.in_use(holder) from None
        return HomeLock(fd, command)

    def holder(self) -> Holder | None:
        """The process that holds this home's runtime lock, if one does."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd) or Holder(pid=0, command="", url="")
        finally:
            os.close(fd)
        return None

    def in_use(self, holder: Holder | None) -> Conflict:
        who = (holder or Holder(pid=0, command="", url="")).describe()
        return Conflict(
            f"{self.root} is in use by {who}",
            hint="stop it first, or give this one a home of its own: CRONBRIDGE_HOME=DIR",
        )


def _read_holder(fd: int) -> Holder | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return Holder(pid=int(data["pid"]), command=str(data["command"]), url=str(data["url"]))
    except (ValueError, KeyError, TypeError):
        return None  # being written just now
