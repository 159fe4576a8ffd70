"""Checking an AWS Signature Version 4 on a request, as S3 does: for the sandbox's trigger
bucket endpoint, which admits a PUT signed with the sandbox's credentials (what
`cronbridge curl` prints as its `--aws-sigv4` line) as the bucket admits a signed PUT.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

__all__ = ["ALGORITHM", "SignatureProblem", "check_signature"]

ALGORITHM = "AWS4-HMAC-SHA256"
#: how far a request's x-amz-date may be from now, as S3 allows
MAX_SKEW_SECONDS = 15 * 60


@dataclass(frozen=True)
class SignatureProblem:
    """Why a signature was refused, as S3's error code and message."""

    code: str
    message: str


def check_signature(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    now: datetime,
) -> SignatureProblem | None:
    """None if the request's `Authorization` header is a valid SigV4 signature by
    `access_key`; else what is wrong. `headers` is looked up by lower-case name; a
    signed header the request does not carry counts as empty (curl signs an empty
    `x-amz-security-token` without sending it)."""
    fields = _authorization(headers.get("authorization", ""))
    if fields is None:
        return SignatureProblem("AccessDenied", "Access Denied")
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return SignatureProblem(
            "AuthorizationHeaderMalformed", "The credential scope is malformed."
        )
    key_id, day, region, service, _ = scope
    if not hmac.compare_digest(key_id, access_key):
        return SignatureProblem(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    stamp = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return SignatureProblem("AccessDenied", "AWS authentication requires a valid x-amz-date.")
    if stamp[:8] != day:
        return SignatureProblem(
            "AuthorizationHeaderMalformed", "The credential date does not match x-amz-date."
        )
    if abs((now - signed_at).total_seconds()) > MAX_SKEW_SECONDS:
        return SignatureProblem(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
    body_hash = hashlib.sha256(body).hexdigest()
    declared = headers.get("x-amz-content-sha256")
    if declared not in (None, "UNSIGNED-PAYLOAD", body_hash):
        return SignatureProblem(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    signed = fields["SignedHeaders"].split(";")
    parts = urlsplit(target)
    canonical = "\n".join(
        [
            method,
            parts.path or "/",
            "&".join(sorted(q for q in parts.query.split("&") if q)),
            "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed),
            ";".join(signed),
            declared or body_hash,
        ]
    )
    credential_scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [ALGORITHM, stamp, credential_scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["Signature"]):
        return SignatureProblem(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    return None


def _authorization(value: str) -> dict[str, str] | None:
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        return None
    fields = {}
    for item in rest.split(","):
        name, sep, content = item.strip().partition("=")
        if sep:
            fields[name] = content
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        return None
    return fields
