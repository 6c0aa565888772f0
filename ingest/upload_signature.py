"""The signed upload, version 2: what is signed, how a sender signs, how recstore checks.

    S = "recstore-upload-v2\\n" T "\\n" CUSTOMER_ID "\\n" H "\\n"
        then "name:" value "\\n" for each header of SIGNED_HEADERS, in that order
    X-Recstore-Signature: v2=<hex HMAC-SHA256(webhook_secret, S)>

T is `X-Recstore-Timestamp`, H `X-Recstore-Content-SHA256` (hex SHA-256 of the body). Every
metadata header is signed, so a captured request cannot be replayed with another caller,
time or idempotency key, and the whole check needs the headers alone: an unauthenticated
sender is refused before one byte of its body is read.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from ingest.timestamps import unix_seconds
from recstore.errors import Unauthorized

PREFIX = "recstore-upload-v2"
SIGNED_HEADERS = ("content-type", "idempotency-key", "x-recstore-kind", "x-recstore-recorded-at",
                  "x-recstore-caller", "x-recstore-caller-name", "x-recstore-callee")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_SIGNATURE_HEADER = 2048
_SIGNATURE_HEADERS = ("x-recstore-timestamp", "x-recstore-content-sha256", "x-recstore-signature")
_MALFORMED = "missing or malformed signature"


def header_bytes(value: str | None) -> bytes:
    """A header as signed: its bytes (aiohttp keeps non-UTF-8 bytes as surrogates), without
    surrounding spaces and tabs; an absent header is empty."""
    if value is None:
        return b""
    return value.encode("utf-8", "surrogateescape").strip(b" \t")


def signing_string(timestamp: int, customer_id: UUID, body_sha256: str,
                   headers: Mapping[str, str]) -> bytes:
    lower: dict[str, str] = {}
    for name, value in headers.items():
        lower.setdefault(name.lower(), value)
    lines = [PREFIX.encode(), str(timestamp).encode(), str(customer_id).encode(),
             body_sha256.encode()]
    lines += [name.encode() + b":" + header_bytes(lower.get(name)) for name in SIGNED_HEADERS]
    return b"\n".join(lines) + b"\n"


def sign(secret: str, timestamp: int, customer_id: UUID, body_sha256: str,
         headers: Mapping[str, str]) -> str:
    """The `X-Recstore-Signature` value a sender computes."""
    message = signing_string(timestamp, customer_id, body_sha256, headers)
    return "v2=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, customer_id: UUID, *, body_sha256: str, timestamp: int,
                   headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` plus the three signature headers: what a sender (CLI, tests, benches)
    posts. `body_sha256` is the hex digest, so a streamed body need not be held."""
    return {**headers, "X-Recstore-Timestamp": str(timestamp),
            "X-Recstore-Content-SHA256": body_sha256,
            "X-Recstore-Signature": sign(secret, timestamp, customer_id, body_sha256, headers)}


@dataclass(frozen=True)
class OfferedSignature:
    timestamp: int
    body_sha256: str
    macs: tuple[bytes, ...]  # every v2= value offered (lets senders rotate secrets)


def parse_offered(headers: Mapping[str, str], *, now: float, tolerance: int) -> OfferedSignature:
    """The signature headers, strictly: anything malformed is the same 401. A signed header
    sent twice is refused too: proxies disagree on which copy counts."""
    seen = Counter(name.lower() for name, _ in headers.items())
    if any(seen[name] > 1 for name in (*SIGNED_HEADERS, *_SIGNATURE_HEADERS)):
        raise Unauthorized(_MALFORMED)
    timestamp = unix_seconds(headers.get("X-Recstore-Timestamp", ""))
    if timestamp is None:
        raise Unauthorized(_MALFORMED)
    if abs(now - timestamp) > tolerance:
        raise Unauthorized("signature timestamp outside the allowed window")
    body_sha256 = headers.get("X-Recstore-Content-SHA256", "")
    if not _SHA256_HEX.fullmatch(body_sha256):
        raise Unauthorized(_MALFORMED)
    raw = headers.get("X-Recstore-Signature", "")
    macs = []
    if len(raw) <= _MAX_SIGNATURE_HEADER:
        for part in raw.split(","):
            scheme, _, value = part.strip().partition("=")
            if scheme == "v2" and re.fullmatch(r"[0-9a-f]{64}", value):
                macs.append(bytes.fromhex(value))
    if not macs:
        raise Unauthorized(_MALFORMED)
    return OfferedSignature(timestamp, body_sha256, tuple(macs))


def verify(secret: bytes, customer_id: UUID, offered: OfferedSignature,
           headers: Mapping[str, str]) -> bytes:
    """The matching MAC (the same for a replay, whatever else was offered beside it)."""
    message = signing_string(offered.timestamp, customer_id, offered.body_sha256, headers)
    expected = hmac.new(secret, message, hashlib.sha256).digest()
    # Compare against every value so timing does not reveal which one matched.
    matched = [hmac.compare_digest(expected, mac) for mac in offered.macs]
    if not any(matched):
        raise Unauthorized("signature does not match")
    return expected
