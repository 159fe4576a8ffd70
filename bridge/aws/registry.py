"""The S3 registry: groups in the state bucket (DESIGN.md §3.2).

    groups/<group>/current.json                      {"version": N, "paused": ...}
    groups/<group>/v<N>/group.json                   the manifest (immutable)
    groups/<group>/v<N>/lists/<list>/part-<k>.jsonl  at most 1,000 jobs each
    alerts/<id>.json                                 an alert rule (bridge.domain.alerts)

A version is claimed by writing its `group.json` with `If-None-Match: *` (a claim:
who and when), the manifest replaces the claim once every part is written, and
`current` is moved with `If-Match: <etag>`: S3's conditional writes, so two
registrations never share a version and `current` never moves from under someone. A
claim left by a killed registration is never read; the next registration takes the
next number. A group's pause lives in `current.json` too (bridge.domain.pause): the
dispatcher reads it in the GetObject of the pointer it makes anyway, and its role needs
no other grant. An alert rule is created with `If-None-Match: *` too, so an id is never
reused over another rule; a webhook's rule holds its signing secret, as the bucket holds
everything else: private, encrypted at rest.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

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

__all__ = ["S3Registry"]

log = logging.getLogger("cronbridge.registry")

_DELETE_BATCH = 1000


class S3Registry:
    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def current_version(self, group: str) -> int | None:
        head = self.head(group)
        return None if head is None else head.version

    def head(self, group: str) -> GroupHead | None:
        current = self._current(group)
        return None if current is None else current[0]

    def load_manifest(self, group: str, version: int | None = None) -> GroupManifest:
        if version is None:
            version = self.current_version(group)
            if version is None:
                raise not_registered(group)
        body = self._get(_manifest_key(group, version))
        if body is None:
            raise GroupNotFound(f"group {group!r} has no version {version}")
        return stored_manifest(group, version, json.loads(body))

    def claim_version(self, claim: VersionClaim) -> None:
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=_manifest_key(claim.group, claim.version),
                Body=json.dumps(claim.to_dict(), indent=2).encode(),
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise Conflict(f"version {claim.version} of {claim.group!r} is taken") from None
            raise

    def finish_version(self, manifest: GroupManifest) -> None:
        self._s3.put_object(
            Bucket=self.bucket,
            Key=_manifest_key(manifest.group, manifest.version),
            Body=json.dumps(manifest.to_dict(), indent=2).encode(),
            ContentType="application/json",
        )

    def discard_version(self, group: str, version: int) -> None:
        claim = _manifest_key(group, version)
        keys = [key for key in self._keys(f"{_prefix(group)}v{version}/") if key != claim]
        self._delete(keys)
        self._delete([claim])  # last: the number stays taken while its parts go

    def write_part(
        self, group: str, version: int, list_name: str, part: int, jobs: Sequence[Job]
    ) -> None:
        self._s3.put_object(
            Bucket=self.bucket,
            Key=_part_key(group, version, list_name, part),
            Body="".join(encode_job(job) + "\n" for job in jobs).encode(),
            ContentType="application/x-ndjson",
        )

    def read_part(self, group: str, version: int, list_name: str, part: int) -> Iterator[Job]:
        key = _part_key(group, version, list_name, part)
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise GroupNotFound(
                    f"part {part} of list {list_name!r} of {group!r} v{version} is missing"
                ) from None
            raise
        body = response["Body"]
        try:
            # Streamed line by line: a publisher's memory does not grow with the part.
            for line in body.iter_lines():
                if line:
                    yield decode_job(line)
        finally:
            body.close()

    def set_current(self, group: str, version: int, expected: int | None) -> None:
        current = self._current(group)
        head, etag = (None, None) if current is None else current
        found = None if head is None else head.version
        if found != expected:
            raise Conflict(
                f"group {group!r} was registered by someone else meanwhile (now v{found}); try again"
            )
        pause = None if head is None else head.pause
        self._put_head(GroupHead(version, pause), group, etag, "registered")

    def set_pause(self, group: str, pause: Pause | None) -> GroupHead:
        current = self._current(group)
        if current is None:
            raise not_registered(group)
        head = GroupHead(current[0].version, pause)
        self._put_head(head, group, current[1], "registered or paused")
        return head

    def _put_head(self, head: GroupHead, group: str, etag: str | None, what: str) -> None:
        """Write the pointer if it is still the one read (`etag`; None: there was none)."""
        condition = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=f"{_prefix(group)}current.json",
                Body=encode_head(head).encode(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise Conflict(
                    f"group {group!r} was {what} by someone else meanwhile; try again"
                ) from None
            raise

    def list_groups(self) -> list[str]:
        return sorted(self.heads())

    def heads(self) -> dict[str, GroupHead]:
        heads = {}
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix="groups/", Delimiter="/"
        ):
            for prefix in page.get("CommonPrefixes", []):
                name = prefix["Prefix"][len("groups/") : -1]
                current = self._current(name)
                if current is not None:
                    heads[name] = current[0]
        return heads

    def delete_group(self, group: str) -> None:
        if self._current(group) is None:
            raise not_registered(group)
        # The pointer first: from this instant the group is gone for triggers.
        self._s3.delete_object(Bucket=self.bucket, Key=f"{_prefix(group)}current.json")
        self._delete(self._keys(_prefix(group)))

    def put_alert(self, alert: Alert) -> None:
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=_alert_key(alert.id),
                Body=json.dumps(alert.to_dict(with_secret=True), indent=2).encode(),
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise Conflict(f"an alert with id {alert.id} exists already") from None
            raise

    def list_alerts(self) -> list[Alert]:
        alerts = []
        for key in sorted(self._keys(_ALERTS)):
            if not key.endswith(".json"):
                continue
            body = self._get(key)
            if body is None:  # removed meanwhile
                continue
            try:
                alerts.append(Alert.from_dict(json.loads(body)))
            except (ValueError, KeyError, TypeError):
                log.warning("unreadable alert rule skipped", extra={"key": key})
        return alerts

    def delete_alert(self, alert_id: str) -> None:
        key = _alert_key(alert_id)
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise AlertNotFound(
                    f"no alert {alert_id} is set", hint="see `cronbridge alerts list`"
                ) from None
            raise
        self._s3.delete_object(Bucket=self.bucket, Key=key)

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def _delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            self._s3.delete_objects(
                Bucket=self.bucket,
                Delete={
                    "Objects": [{"Key": key} for key in keys[start : start + _DELETE_BATCH]],
                    "Quiet": True,
                },
            )

    def _current(self, group: str) -> tuple[GroupHead, str] | None:
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=f"{_prefix(group)}current.json")
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            if _code(exc) in ("AccessDenied", "403"):
                # S3 answers a missing key with 403, not 404, to whoever may not list
                # the bucket: for a trigger of an unknown group that is "not
                # registered", never an error to retry into a dead-letter queue.
                raise GroupNotFound(
                    f"group {group!r} is not registered, or this role may not read it",
                    hint="`cronbridge groups list`; the role needs s3:GetObject and "
                    "s3:ListBucket on the state bucket's groups/",
                ) from None
            raise
        return decode_head(json.loads(response["Body"].read())), str(response["ETag"])

    def _get(self, key: str) -> bytes | None:
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        return bytes(response["Body"].read())


_ALERTS = "alerts/"


def _alert_key(alert_id: str) -> str:
    return f"{_ALERTS}{validate_alert_id(alert_id)}.json"


def _prefix(group: str) -> str:
    return f"groups/{validate_group_name(group)}/"


def _manifest_key(group: str, version: int) -> str:
    return f"{_prefix(group)}v{version}/group.json"


def _part_key(group: str, version: int, list_name: str, part: int) -> str:
    return f"{_prefix(group)}v{version}/lists/{list_name}/part-{part}.jsonl"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
