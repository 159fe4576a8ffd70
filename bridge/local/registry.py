"""The file registry: the state bucket's layout (DESIGN.md §3.2) in a local folder."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bridge.domain.alerts import Alert, AlertNotFound, validate_alert_id
from bridge.domain.groups import (
    GroupManifest,
    Job,
    VersionClaim,
    decode_job,
    encode_job,
    not_registered,
    stored_manifest,
)
from bridge.domain.names import validate_group_name
from bridge.domain.pause import GroupHead, Pause, decode_head, encode_head
from bridge.exceptions import Conflict, GroupNotFound

__all__ = ["FileRegistry"]

log = logging.getLogger("cronbridge.registry")


class FileRegistry:
    """`<root>/groups/<group>/current.json`, `.../v<N>/group.json`, `.../v<N>/lists/<l>/part-<k>.jsonl`.

    Files are written to a temporary name and renamed, so readers never see half a
    file; `current` moves under a lock, compare-and-set, like a conditional S3 write.
    A version is claimed by creating its `group.json` exclusively (O_EXCL, as S3's
    `If-None-Match: *`); the manifest replaces the claim when the version is finished.
    Alert rules are `<root>/alerts/<id>.json`, readable by their owner only (a webhook's
    holds its signing secret), created whole and exclusively by a hard link.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "groups").mkdir(parents=True, exist_ok=True)

    def _group_dir(self, group: str) -> Path:
        return self.root / "groups" / validate_group_name(group)

    def _version_dir(self, group: str, version: int) -> Path:
        return self._group_dir(group) / f"v{version}"

    def current_version(self, group: str) -> int | None:
        head = self.head(group)
        return None if head is None else head.version

    def head(self, group: str) -> GroupHead | None:
        data = _read_json(self._group_dir(group) / "current.json")
        return None if data is None else decode_head(data)

    def load_manifest(self, group: str, version: int | None = None) -> GroupManifest:
        if version is None:
            version = self.current_version(group)
            if version is None:
                raise not_registered(group)
        try:
            text = (self._version_dir(group, version) / "group.json").read_text()
        except FileNotFoundError:
            raise GroupNotFound(f"group {group!r} has no version {version}") from None
        # An empty file is a claim whose registration was killed while writing it.
        return stored_manifest(group, version, json.loads(text) if text.strip() else None)

    def claim_version(self, claim: VersionClaim) -> None:
        path = self._version_dir(claim.group, claim.version) / "group.json"
        while True:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                raise Conflict(f"version {claim.version} of {claim.group!r} is taken") from None
            except FileNotFoundError:  # a discard removed the empty folder just now
                continue
        with os.fdopen(fd, "w") as handle:
            json.dump(claim.to_dict(), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())

    def finish_version(self, manifest: GroupManifest) -> None:
        path = self._version_dir(manifest.group, manifest.version) / "group.json"
        _write_atomic(path, json.dumps(manifest.to_dict(), indent=2))

    def discard_version(self, group: str, version: int) -> None:
        version_dir = self._version_dir(group, version)
        shutil.rmtree(version_dir / "lists", ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (version_dir / "group.json").unlink()
        with contextlib.suppress(OSError):  # not empty: someone claimed it again meanwhile
            version_dir.rmdir()

    def write_part(
        self, group: str, version: int, list_name: str, part: int, jobs: Sequence[Job]
    ) -> None:
        path = self._part_path(group, version, list_name, part)
        _write_atomic(path, "".join(encode_job(job) + "\n" for job in jobs))

    def read_part(self, group: str, version: int, list_name: str, part: int) -> Iterator[Job]:
        path = self._part_path(group, version, list_name, part)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise GroupNotFound(
                f"part {part} of list {list_name!r} of {group!r} v{version} is missing"
            ) from None
        with handle:
            for line in handle:
                yield decode_job(line)

    def set_current(self, group: str, version: int, expected: int | None) -> None:
        with self._locked(group):
            head = self.head(group)
            current = None if head is None else head.version
            if current != expected:
                raise Conflict(
                    f"group {group!r} was registered by someone else meanwhile (now v{current}); try again"
                )
            pause = None if head is None else head.pause
            self._write_head(group, GroupHead(version, pause))

    def set_pause(self, group: str, pause: Pause | None) -> GroupHead:
        if self.head(group) is None:  # before the lock, which would make its folder
            raise not_registered(group)
        with self._locked(group):
            head = self.head(group)
            if head is None:
                raise not_registered(group)
            paused = GroupHead(head.version, pause)
            self._write_head(group, paused)
            return paused

    def _write_head(self, group: str, head: GroupHead) -> None:
        _write_atomic(self._group_dir(group) / "current.json", encode_head(head))

    def list_groups(self) -> list[str]:
        groups_dir = self.root / "groups"
        return sorted(p.name for p in groups_dir.iterdir() if (p / "current.json").exists())

    def heads(self) -> dict[str, GroupHead]:
        heads = {}
        for group in self.list_groups():
            head = self.head(group)
            if head is not None:  # not deleted meanwhile
                heads[group] = head
        return heads

    def delete_group(self, group: str) -> None:
        group_dir = self._group_dir(group)
        with self._locked(group):
            current = group_dir / "current.json"
            if not current.exists():
                raise not_registered(group)
            current.unlink()  # the group is gone for triggers from this instant
            for child in group_dir.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)

    def put_alert(self, alert: Alert) -> None:
        path = self._alert_path(alert.id)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(alert.to_dict(with_secret=True), handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)  # whole, and only if no alert has this id
            except FileExistsError:
                raise Conflict(f"an alert with id {alert.id} exists already") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def list_alerts(self) -> list[Alert]:
        alerts = []
        for path in sorted((self.root / "alerts").glob("a-*.json")):
            try:
                alerts.append(Alert.from_dict(json.loads(path.read_text())))
            except FileNotFoundError:  # removed meanwhile
                continue
            except (ValueError, KeyError, TypeError):
                log.warning("unreadable alert rule skipped", extra={"path": str(path)})
        return alerts

    def delete_alert(self, alert_id: str) -> None:
        try:
            self._alert_path(alert_id).unlink()
        except FileNotFoundError:
            raise AlertNotFound(
                f"no alert {alert_id} is set", hint="see `cronbridge alerts list`"
            ) from None

    def _alert_path(self, alert_id: str) -> Path:
        return self.root / "alerts" / f"{validate_alert_id(alert_id)}.json"

    def _part_path(self, group: str, version: int, list_name: str, part: int) -> Path:
        return self._version_dir(group, version) / "lists" / list_name / f"part-{part}.jsonl"

    @contextlib.contextmanager
    def _locked(self, group: str) -> Iterator[None]:
        group_dir = self._group_dir(group)
        group_dir.mkdir(parents=True, exist_ok=True)
        with (group_dir / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
