"""The local home directory: `$CRONBRIDGE_HOME`, by default `~/.cronbridge`."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_BUCKET", "DEFAULT_PORT", "Endpoint", "Home"]

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
