"""Right of access and portability: everything held about a customer, as one streamed ZIP.

Recordings are decrypted one after the other, a piece at a time, straight into the archive;
memory holds one piece of audio (and one list entry per file for the manifest), however
large the account. The export is an audit event before its first byte leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from crypto import CustomerKeyPair
from recstore import audit, checkpoints
from recstore.db import Pool
from recstore.errors import KeyShredded
from recstore.keys import KeyService
from recstore.object_store import ObjectStore, ObjectStoreError
from recstore.recordings.audio import extension_for
from recstore.recordings.read import MAX_PAGE, KeyPairCache, choose_slice, customer_view, decrypt_audio
from recstore.recordings.read import list_page as list_recordings
from recstore.rights.export_documents import (
    FORMATS,
    access_log_pieces,
    account_document,
    grants_document,
    rfc3339,
    to_json,
)
from recstore.rights.export_zip import StreamingZip

FORMAT_NAME = "recstore-export"
FORMAT_VERSION = 1

_Readable = tuple[asyncpg.Record, dict[str, Any], CustomerKeyPair]


class ExportCorrupted(Exception):
    """Decrypted audio did not hash to the stored SHA-256 (never expected: the AEAD would
    have failed first). The archive is cut off rather than finished with a wrong file."""


async def _page(pool: Pool, keys: KeyService, customer_id: UUID, cursor: str | None
                ) -> tuple[list[_Readable], str | None]:
    """One page of recordings with their metadata opened; ones being deleted are skipped."""
    async with pool.acquire() as conn:
        page = await list_recordings(conn, customer_id, limit=MAX_PAGE, cursor=cursor)
        pairs = KeyPairCache(conn, keys, customer_id)
        readable = []
        for row in page.rows:
            if not row["sealed_data_key"]:
                continue  # shredded: its deletion is under way
            try:
                view = await customer_view(row, pairs)
                readable.append((row, view, await pairs.get(row["epoch"])))
            except KeyShredded:
                continue
    return readable, page.next_cursor


async def _recording_files(archive: StreamingZip, pool: Pool, store: ObjectStore,
                           recording: _Readable) -> AsyncIterator[bytes]:
    row, view, pair = recording
    pieces = decrypt_audio(store, row, pair, choose_slice(int(row["size_bytes"]), None))
    try:
        first = await anext(pieces, b"")
    except ObjectStoreError:
        if await pool.fetchval("SELECT 1 FROM recordings WHERE id = $1", row["id"]):
            raise
        return  # deleted since the page was read: it is simply no longer held
    base = f"recordings/{row['id']}"
    audio_path = f"{base}.{extension_for(row['content_type'])}"
    yield archive.add(f"{base}.json", "application/json",
                      to_json({**view, "audio_file": audio_path}), at=row["recorded_at"])
    member = archive.open(audio_path, row["content_type"], at=row["recorded_at"],
                          compress=False, size_hint=int(row["size_bytes"]))
    # Hashing, CRC and the copy into the archive run in a worker thread (hashlib and zlib
    # release the GIL), one piece at a time and in order, while the loop sends the previous
    # piece's bytes and the stream's own thread reads and decrypts the next.
    writing = asyncio.ensure_future(asyncio.to_thread(member.write, first))
    try:
        async for piece in pieces:
            ready = await writing
            writing = asyncio.ensure_future(asyncio.to_thread(member.write, piece))
            yield ready
        yield await writing
    finally:
        if not writing.done():
            with contextlib.suppress(BaseException):
                await writing  # a worker thread cannot be cancelled; let it finish first
    if member.sha256.digest() != bytes(row["sha256"]):
        raise ExportCorrupted()
    yield member.close()


def _manifest(customer_id: UUID, exported_at: datetime, archive: StreamingZip,
              recordings: int) -> dict[str, Any]:
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "customer_id": str(customer_id),
            "exported_at": rfc3339(exported_at), "recordings": recordings,
            "formats": FORMATS, "files": [asdict(entry) for entry in archive.entries]}


async def export_archive(pool: Pool, store: ObjectStore, keys: KeyService, customer_id: UUID,
                         actor_id: UUID, *, audit_keys_file: Path | None = None
                         ) -> AsyncIterator[bytes]:
    """The archive's bytes, in pieces. The audit entry is written before the first piece."""
    now = datetime.now(UTC)
    archive = StreamingZip()
    async with pool.acquire() as conn:
        await audit.append(conn, customer_id, actor_type="customer", actor_id=actor_id,
                           action="account.exported")
        account = await account_document(conn, customer_id)
        grants = await grants_document(conn, customer_id)
    yield archive.add("account.json", "application/json", to_json(account), at=now)

    recordings, cursor, more = 0, None, True
    while more:
        page, cursor = await _page(pool, keys, customer_id, cursor)
        more = cursor is not None
        for recording in page:
            count_before = len(archive.entries)
            async for piece in _recording_files(archive, pool, store, recording):
                yield piece
            recordings += len(archive.entries) > count_before

    yield archive.add("grants.json", "application/json", to_json(grants), at=now)
    log_member = archive.open("access_log.json", "application/json", at=now, compress=True)
    written: list[int] = []
    async for piece in access_log_pieces(pool, customer_id, written):
        yield log_member.write(piece)
    yield log_member.close()
    if audit_keys_file is not None:
        async with pool.acquire() as conn:
            checkpoint = await checkpoints.current(conn, audit_keys_file, customer_id,
                                                   at_most=written[-1] if written else 0)
        yield archive.add("checkpoint.json", "application/json",
                          to_json(checkpoint.as_json()), at=now)
    yield archive.add("manifest.json", "application/json",
                      to_json(_manifest(customer_id, now, archive, recordings)), at=now)
    yield archive.close()
