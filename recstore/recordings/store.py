"""The one path by which audio is stored: encrypt while streaming, put, verify, probe, commit.

Used by the signed upload webhook and by the provider fetch worker. The provider gets its
2xx only after this returns. On any failure the object is removed and no row exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from crypto import (
    StreamEncryptor,
    blind_index,
    ciphertext_size,
    epoch_of,
    new_data_key,
    normalize_phone,
    seal_data_key,
    seal_field,
)
from recstore import audit
from recstore.accounts.customers import customer_row
from recstore.consent import grant_keys, notify
from recstore.db import Pool
from recstore.errors import Invalid, PayloadTooLarge
from recstore.keys import KeyService
from recstore.object_store import ObjectStore, ObjectStoreError
from recstore.recordings.audio import PROBE_HEAD_BYTES, AudioInfo, NotAudio, probe
from recstore.recordings.cleanup import discard
from recstore.retention.policy import expires_at

log = logging.getLogger("recstore.storing")


@dataclass(frozen=True)
class IncomingRecording:
    customer_id: UUID
    provider: str
    kind: str = "voicemail"
    provider_recording_id: str | None = None
    recorded_at: datetime | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    callee_number: str | None = None
    request_digest: bytes | None = None  # dedupe key for deliveries without a recording id
    caller_identity: str = "delivered"  # or "lookup_failed": stored without it, not lost


@dataclass(frozen=True)
class StoredRecording:
    recording_id: UUID
    created: bool


def object_key_for(customer_id: UUID, recording_id: UUID) -> str:
    return f"recordings/{customer_id}/{recording_id}"


async def existing_recording(pool: Pool, incoming: IncomingRecording) -> UUID | None:
    if incoming.provider_recording_id is not None:
        found: UUID | None = await pool.fetchval(
            "SELECT id FROM recordings WHERE customer_id = $1 AND provider = $2"
            " AND provider_recording_id = $3",
            incoming.customer_id, incoming.provider, incoming.provider_recording_id,
        )
        return found
    if incoming.request_digest is not None:
        found = await pool.fetchval(
            "SELECT id FROM recordings WHERE customer_id = $1 AND request_digest = $2",
            incoming.customer_id, incoming.request_digest,
        )
        return found
    return None


async def _read_head(body: AsyncIterator[bytes], max_bytes: int) -> bytes:
    head = bytearray()
    async for piece in body:
        head += piece
        if len(head) > max_bytes:
            raise PayloadTooLarge(f"the upload limit is {max_bytes} bytes")
        if len(head) >= PROBE_HEAD_BYTES:
            break
    return bytes(head)


class _Encrypting:
    """Encrypts head + rest of the body into object pieces, hashing and counting plaintext.

    SHA-256 and encryption run in a worker thread, a batch of about BATCH bytes per hop
    (hashlib and libsodium release the GIL), while the loop already receives the next
    batch: the loop only moves pieces, and the two cores overlap.
    """

    BATCH = 1024 * 1024

    def __init__(self, encryptor: StreamEncryptor, max_bytes: int) -> None:
        self.encryptor = encryptor
        self.max_bytes = max_bytes
        self.sha256 = hashlib.sha256()
        self.size = 0

    async def pieces(self, head: bytes, rest: AsyncIterator[bytes],
                     before_final: Callable[[bytes], Awaitable[None]] | None = None
                     ) -> AsyncIterator[bytes]:
        """Object pieces; the final chunk waits for `before_final` (given the body's SHA-256):
        if that raises, the upload is cut before its end and no object ever appears."""
        yield self.encryptor.header
        batch, batched = [head], len(head)
        self._count(len(head))
        pending: asyncio.Future[bytes] | None = None
        try:
            async for piece in rest:
                self._count(len(piece))  # on the loop: an oversized body stops at once
                batch.append(piece)
                batched += len(piece)
                if batched >= self.BATCH:
                    if pending is not None:
                        yield await pending
                    pending = asyncio.ensure_future(asyncio.to_thread(self._take, batch))
                    batch, batched = [], 0
            if pending is not None:
                yield await pending
                pending = None
            if batch:
                yield await asyncio.to_thread(self._take, batch)
        finally:
            if pending is not None:  # the thread cannot be cancelled; let it finish first
                with contextlib.suppress(BaseException):
                    await pending
        if before_final is not None:
            await before_final(self.sha256.digest())
        yield self.encryptor.finalize()

    def _count(self, size: int) -> None:
        self.size += size
        if self.size > self.max_bytes:
            raise PayloadTooLarge(f"the upload limit is {self.max_bytes} bytes")

    def _take(self, batch: list[bytes]) -> bytes:
        out = []
        for piece in batch:
            self.sha256.update(piece)
            out.append(self.encryptor.update(piece))
        return b"".join(out)


def field_context(name: str, recording_id: UUID) -> bytes:
    """What a sealed identity field is bound to: its column and its recording."""
    return name.encode() + recording_id.bytes


def _caller_fields(public_key: bytes, index_key: bytes, recording_id: UUID,
                   incoming: IncomingRecording) -> dict[str, bytes | None]:
    caller_index, caller = None, incoming.caller_number
    if caller:
        try:
            caller = normalize_phone(caller)
            caller_index = blind_index(index_key, caller)
        except ValueError:
            pass  # not a phone number (e.g. "anonymous"): kept as sent, not searchable
    values = {"caller_number": caller, "caller_name": incoming.caller_name,
              "callee_number": incoming.callee_number}
    sealed: dict[str, bytes | None] = {
        f"{name}_sealed": seal_field(public_key, value,
                                     context=field_context(name, recording_id))
        if value else None
        for name, value in values.items()
    }
    return {**sealed, "caller_index": caller_index}


async def store_recording(
    pool: Pool,
    store: ObjectStore,
    keys: KeyService,
    incoming: IncomingRecording,
    body: AsyncIterator[bytes],
    *,
    max_bytes: int,
    before_commit: Callable[[bytes], Awaitable[None]] | None = None,
    size: int | None = None,
) -> StoredRecording:
    """`before_commit` gets the body's SHA-256 once the whole body has been read, before its
    last bytes reach the store and before the row exists (the upload webhook checks the
    signed digest there); if it or the probe fails, nothing stays. `size`, the body's
    declared length, lets the object stream up in one PUT (ObjectStore.put_stream)."""
    existing = await existing_recording(pool, incoming)
    if existing is not None:
        return StoredRecording(existing, created=False)

    async with pool.acquire() as conn:
        customer = await customer_row(conn, incoming.customer_id)
        recorded_at = incoming.recorded_at or datetime.now(UTC)
        expiry = expires_at(recorded_at, customer["retention_days"])
        if expiry <= datetime.now(UTC):
            raise Invalid("the recording is already past its retention period")
        epoch = epoch_of(recorded_at)
        public_key = await keys.public_key(conn, incoming.customer_id, epoch)
    index_key = keys.index_key(incoming.customer_id, epoch)

    head = await _read_head(body, max_bytes)
    recording_id = uuid.uuid4()
    data_key = new_data_key()
    encrypting = _Encrypting(
        StreamEncryptor(data_key, customer_id=incoming.customer_id, recording_id=recording_id),
        max_bytes,
    )
    key = object_key_for(incoming.customer_id, recording_id)
    await pool.execute("INSERT INTO pending_uploads (object_key, customer_id) VALUES ($1, $2)",
                       key, incoming.customer_id)
    # The head is probed while the rest streams up. Every sender has proven itself before
    # this (a signed upload by the HMAC over its headers, a fetch by the provider's TLS).
    probing = asyncio.ensure_future(probe(head))
    try:
        await store.put_stream(key, encrypting.pieces(head, body, before_commit),
                               size=None if size is None else ciphertext_size(size))
        try:
            info: AudioInfo = await probing
        except NotAudio as exc:
            raise Invalid(f"the body is not audio recstore accepts: {exc}") from exc
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO recordings (id, customer_id, kind, provider, provider_recording_id,"
                " epoch, recorded_at, expires_at, duration_ms, content_type, size_bytes, sha256,"
                " object_key, sealed_data_key, caller_number_sealed, caller_name_sealed,"
                " callee_number_sealed, caller_index, request_digest, caller_identity) VALUES"
                " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
                " $18, $19, $20)",
                recording_id, incoming.customer_id, incoming.kind, incoming.provider,
                incoming.provider_recording_id, epoch, recorded_at, expiry,
                info.duration_ms(encrypting.size), info.content_type, encrypting.size,
                encrypting.sha256.digest(), key, seal_data_key(public_key, data_key),
                *_caller_fields(public_key, index_key, recording_id, incoming).values(),
                incoming.request_digest, incoming.caller_identity,
            )
            claimed = await conn.execute("DELETE FROM pending_uploads WHERE object_key = $1",
                                         key)
            if claimed != "DELETE 1":
                # The janitor took this upload for a dead writer's (it outlived the grace
                # period) and may have removed its object: no row may point at it.
                raise ObjectStoreError("put failed: the pending upload was reclaimed")
            await grant_keys.seal_at_ingest(conn, keys, incoming.customer_id, recording_id,
                                            data_key)
            await audit.append(conn, incoming.customer_id, actor_type="provider", actor_id=None,
                               action="recording.stored", recording_id=recording_id)
            if customer["notify_new_recordings"]:
                await notify.enqueue(conn, incoming.customer_id, "recording.stored",
                                     recording_id=recording_id)
    except asyncpg.UniqueViolationError:
        # The same provider recording was stored concurrently: keep the first copy only.
        await discard(pool, store, key)
        winner = await existing_recording(pool, incoming)
        if winner is None:
            raise
        return StoredRecording(winner, created=False)
    except BaseException:
        if not probing.done():
            probing.cancel()
        with contextlib.suppress(BaseException):
            await probing  # retrieved: a probe of a failed upload logs nothing
        await discard(pool, store, key)
        raise
    log.info("recording stored", extra={"recording_id": str(recording_id),
                                         "size_bytes": encrypting.size})
    return StoredRecording(recording_id, created=True)
