"""The generic signed upload: any system that can HMAC-sign a POST delivers audio directly.

Signed as version 2 (ingest/upload_signature.py). `authenticate` decides from the headers
alone, before the body is read: an unknown customer, a stale or malformed signature and a
wrong one are the same 401, and only a sender who proved it holds the secret learns why its
headers are otherwise refused (415, 422). `receive_upload` then streams the body into
storage and refuses it (401, nothing kept) when its SHA-256 is not the signed one.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from ingest.upload_signature import parse_offered, verify
from recstore.accounts.customers import customer_row, customer_secrets
from recstore.errors import Invalid, NotFound, Unauthorized, UnsupportedMedia
from recstore.recordings.store import IncomingRecording, StoredRecording, store_recording
from recstore.services import Services

PROVIDER = "upload"
_MAX_HEADER_TEXT = 200
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class AuthenticatedUpload:
    incoming: IncomingRecording
    body_sha256: bytes


def _header_text(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None or value == "":
        return None
    try:
        value.encode("utf-8")  # aiohttp keeps undecodable bytes as lone surrogates
    except UnicodeEncodeError:
        raise Invalid(f"{name} must be UTF-8") from None
    if len(value) > _MAX_HEADER_TEXT or not value.isprintable():
        raise Invalid(f"{name} is too long or holds control characters")
    return value


def _recorded_at(headers: Mapping[str, str]) -> datetime | None:
    raw = _header_text(headers, "X-Recstore-Recorded-At")
    if raw is None:
        return None
    try:
        recorded_at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid("X-Recstore-Recorded-At must be an RFC 3339 time") from None
    if recorded_at.tzinfo is None:
        raise Invalid("X-Recstore-Recorded-At must carry a UTC offset")
    if recorded_at > datetime.now(UTC) + _CLOCK_SKEW:
        raise Invalid("X-Recstore-Recorded-At is in the future")
    return recorded_at.astimezone(UTC)


def incoming_from_headers(customer_id: UUID, headers: Mapping[str, str],
                          request_digest: bytes | None = None) -> IncomingRecording:
    kind = headers.get("X-Recstore-Kind") or "voicemail"
    if kind not in ("call", "voicemail"):
        raise Invalid("X-Recstore-Kind must be call or voicemail")
    idempotency_key = _header_text(headers, "Idempotency-Key")
    return IncomingRecording(
        customer_id=customer_id,
        provider=PROVIDER,
        kind=kind,
        provider_recording_id=idempotency_key,
        recorded_at=_recorded_at(headers),
        caller_number=_header_text(headers, "X-Recstore-Caller"),
        caller_name=_header_text(headers, "X-Recstore-Caller-Name"),
        callee_number=_header_text(headers, "X-Recstore-Callee"),
        request_digest=None if idempotency_key else request_digest,
    )


def _is_audio(headers: Mapping[str, str]) -> bool:
    media_type = headers.get("Content-Type", "").partition(";")[0].strip().lower()
    return media_type.startswith("audio/") and len(media_type) > len("audio/")


async def authenticate(svc: Services, customer_id: UUID, headers: Mapping[str, str]
                       ) -> AuthenticatedUpload:
    offered = parse_offered(headers, now=time.time(),
                            tolerance=svc.settings.webhook_tolerance_seconds)
    try:
        async with svc.pool.acquire() as conn:
            customer = await customer_row(conn, customer_id)
    except NotFound:
        raise Unauthorized("signature does not match") from None
    secret = customer_secrets(svc.keys, customer).webhook_secret
    mac = verify(secret, customer_id, offered, headers)
    if not _is_audio(headers):
        raise UnsupportedMedia("the body must be audio/*")
    # Without an Idempotency-Key a replay is the same signed message: the verified MAC is
    # its dedupe key (extra bogus v2= values beside it cannot change it).
    incoming = incoming_from_headers(customer_id, headers, hashlib.sha256(mac).digest())
    return AuthenticatedUpload(incoming, bytes.fromhex(offered.body_sha256))


async def receive_upload(svc: Services, upload: AuthenticatedUpload,
                         body: AsyncIterator[bytes], size: int | None = None) -> StoredRecording:
    """`size`: the body's declared length (Content-Length), when it has one."""
    async def body_is_the_signed_one(sha256: bytes) -> None:
        if not hmac.compare_digest(sha256, upload.body_sha256):
            raise Unauthorized("the body does not match X-Recstore-Content-SHA256")

    return await store_recording(svc.pool, svc.store, svc.keys, upload.incoming, body,
                                 max_bytes=svc.settings.max_upload_bytes,
                                 before_commit=body_is_the_signed_one, size=size)
