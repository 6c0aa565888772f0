"""The generic signed upload: any system that can HMAC-sign a POST delivers audio directly.

Signature: `X-Recstore-Signature: v1=<hex HMAC-SHA256(webhook_secret, timestamp + "." + body)>`
with `X-Recstore-Timestamp` in Unix seconds, at most `tolerance` seconds off. The body is
streamed into storage while the HMAC is computed; nothing is committed before it verifies,
and every error an unsigned caller could trigger is reported as 401 first.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from recstore.accounts.customers import customer_row, customer_secrets
from recstore.errors import Invalid, NotFound, PayloadTooLarge, RecstoreError, Unauthorized
from recstore.recordings.store import IncomingRecording, StoredRecording, store_recording
from recstore.services import Services

PROVIDER = "upload"
_MAX_HEADER_TEXT = 200
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class SignatureHeaders:
    timestamp: int
    digests: tuple[bytes, ...]  # every v1= value offered (lets senders rotate secrets)


def parse_signature_headers(headers: Mapping[str, str], *, now: float, tolerance: int
                            ) -> SignatureHeaders:
    raw_ts = headers.get("X-Recstore-Timestamp", "")
    raw_sig = headers.get("X-Recstore-Signature", "")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise Unauthorized("missing or malformed signature") from None
    if abs(now - timestamp) > tolerance:
        raise Unauthorized("signature timestamp outside the allowed window")
    digests = []
    for part in raw_sig.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == "v1":
            try:
                digests.append(bytes.fromhex(value))
            except ValueError:
                continue
    if not digests:
        raise Unauthorized("missing or malformed signature")
    return SignatureHeaders(timestamp, tuple(digests))


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value a sender computes (used by the demo, docs and tests)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


class SignedBody:
    """Feeds the body through an HMAC; `verify` drains what is left and checks it."""

    def __init__(self, secret: bytes, signature: SignatureHeaders, body: AsyncIterator[bytes],
                 max_bytes: int) -> None:
        self._mac = hmac.new(secret, f"{signature.timestamp}.".encode(), hashlib.sha256)
        self._signature = signature
        self._body = body
        self._max_bytes = max_bytes
        self._seen = 0
        self.verified = False

    async def pieces(self) -> AsyncIterator[bytes]:
        async for piece in self._body:
            self._seen += len(piece)
            if self._seen > self._max_bytes:
                raise PayloadTooLarge(f"the upload limit is {self._max_bytes} bytes")
            self._mac.update(piece)
            yield piece

    async def verify(self) -> bytes:
        """Drain the body, check it; returns the verified MAC (the same for a replay)."""
        async for _ in self.pieces():
            pass
        digest = self._mac.digest()
        if not any(hmac.compare_digest(digest, offered) for offered in self._signature.digests):
            raise Unauthorized("signature does not match")
        self.verified = True
        return digest


def _header_text(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None or value == "":
        return None
    if len(value) > _MAX_HEADER_TEXT:
        raise Invalid(f"{name} is too long")
    return value


def incoming_from_headers(customer_id: UUID, headers: Mapping[str, str]) -> IncomingRecording:
    kind = headers.get("X-Recstore-Kind", "voicemail")
    if kind not in ("call", "voicemail"):
        raise Invalid("X-Recstore-Kind must be call or voicemail")
    recorded_at = None
    if raw := headers.get("X-Recstore-Recorded-At"):
        try:
            recorded_at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise Invalid("X-Recstore-Recorded-At must be an RFC 3339 time") from None
        if recorded_at.tzinfo is None:
            raise Invalid("X-Recstore-Recorded-At must carry a UTC offset")
        if recorded_at > datetime.now(UTC) + _CLOCK_SKEW:
            raise Invalid("X-Recstore-Recorded-At is in the future")
    idempotency_key = _header_text(headers, "Idempotency-Key")
    return IncomingRecording(
        customer_id=customer_id,
        provider=PROVIDER,
        kind=kind,
        provider_recording_id=idempotency_key,
        recorded_at=recorded_at.astimezone(UTC) if recorded_at else None,
        caller_number=_header_text(headers, "X-Recstore-Caller"),
        caller_name=_header_text(headers, "X-Recstore-Caller-Name"),
        callee_number=_header_text(headers, "X-Recstore-Callee"),
    )


async def receive_upload(svc: Services, customer_id: UUID, headers: Mapping[str, str],
                         body: AsyncIterator[bytes]) -> StoredRecording:
    signature = parse_signature_headers(headers, now=time.time(),
                                        tolerance=svc.settings.webhook_tolerance_seconds)
    try:
        async with svc.pool.acquire() as conn:
            customer = await customer_row(conn, customer_id)
    except NotFound:
        raise Unauthorized("signature does not match") from None
    secret = customer_secrets(svc.keys, customer).webhook_secret
    signed = SignedBody(secret, signature, body, svc.settings.max_upload_bytes)
    try:
        incoming = incoming_from_headers(customer_id, headers)

        async def verify_then_dedupe_key() -> bytes | None:
            # Without an Idempotency-Key a replay is the same signed message: its verified
            # MAC is the dedupe key (extra bogus v1= values cannot change it).
            digest = await signed.verify()
            return None if incoming.provider_recording_id else hashlib.sha256(digest).digest()

        result = await store_recording(svc.pool, svc.store, svc.keys, incoming, signed.pieces(),
                                       max_bytes=svc.settings.max_upload_bytes,
                                       before_commit=verify_then_dedupe_key)
    except RecstoreError:
        if not signed.verified:
            await signed.verify()  # an unsigned caller learns nothing but 401
        raise
    if not signed.verified:  # a duplicate returned before reading the body
        await signed.verify()
    return result
