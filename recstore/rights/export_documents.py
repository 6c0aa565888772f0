"""The JSON documents of a customer's export, and how they are described in its manifest."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from recstore.db import Connection, Pool

ACCESS_LOG_PAGE = 500

FORMATS = {
    "encoding": "Every .json file is UTF-8 JSON. Times are RFC 3339 in UTC; ids are UUIDs;"
                " hashes are lowercase hex.",
    "manifest.json": "This file: every other file of the archive with its size in bytes and"
                     " its SHA-256, written last so that it can cover them all.",
    "account.json": "The customer (name, email, phone, company registration number,"
                    " retention setting) and its users (email, role, dates).",
    "recordings/<id>.json": "One recording's metadata, as GET /api/v1/recordings/{id} returns"
                            " it, with the caller's number and name, and `audio_file`.",
    "recordings/<id>.<ext>": "The recording's original audio, byte for byte as delivered; its"
                             " SHA-256 equals `sha256` in recordings/<id>.json.",
    "grants.json": "Grants given to support staff and staff requests for access (staff by id).",
    "access_log.json": "The customer's audit log, oldest first: who did what to which"
                       " recording under which grant. Each entry carries the hash of the"
                       " previous one, so the chain can be verified.",
    "checkpoint.json": "The signed checkpoint of the newest entry in access_log.json"
                       " (docs/AUDIT.md): keep it to prove later that the log was not cut"
                       " or rewritten.",
}

def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def to_json(document: Any) -> bytes:
    return json.dumps(document, default=_plain, ensure_ascii=False, indent=2).encode() + b"\n"


def plain_row(row: Any) -> dict[str, Any]:
    return {name: _plain(value) for name, value in dict(row).items()}


async def account_document(conn: Connection, customer_id: UUID) -> dict[str, Any]:
    customer = await conn.fetchrow(
        "SELECT id, name, email, phone, org_number, retention_days, delete_provider_copy,"
        " created_at FROM customers WHERE id = $1", customer_id)
    users = await conn.fetch(
        "SELECT id, email, role, created_at, disabled_at FROM users WHERE customer_id = $1"
        " ORDER BY created_at, id", customer_id)
    return {"customer": plain_row(customer), "users": [plain_row(u) for u in users]}


async def grants_document(conn: Connection, customer_id: UUID) -> dict[str, Any]:
    grants = await conn.fetch(
        "SELECT id, staff_id, all_recordings, recording_ids, purpose, created_by, request_id,"
        " created_at, expires_at, revoked_at, revoked_by FROM grants WHERE customer_id = $1"
        " ORDER BY created_at, id", customer_id)
    requests = await conn.fetch(
        "SELECT id, staff_id, all_recordings, recording_ids, reason, ticket, status,"
        " created_at, decided_at, decided_by, grant_id FROM access_requests"
        " WHERE customer_id = $1 ORDER BY created_at, id", customer_id)
    return {"grants": [plain_row(g) for g in grants],
            "access_requests": [plain_row(r) for r in requests]}


async def access_log_pieces(pool: Pool, customer_id: UUID,
                            written: list[int] | None = None) -> AsyncIterator[bytes]:
    """The audit log as one JSON array, a page of entries at a time; the seq of each entry
    written is appended to ``written`` (the checkpoint covers the last)."""
    yield b"["
    after, first = 0, True
    while True:
        rows = await pool.fetch(
            "SELECT id, seq, at, actor_type, actor_id, action, recording_id, grant_id,"
            " prev_hash, hash FROM audit_log WHERE customer_id = $1 AND seq > $2"
            " ORDER BY seq LIMIT $3", customer_id, after, ACCESS_LOG_PAGE)
        if not rows:
            break
        for row in rows:
            entry = plain_row(row)
            # Exactly as the entry's hash covers it (docs/AUDIT.md), so the chain verifies.
            entry.update(customer_id=str(customer_id),
                         at=row["at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
            line = json.dumps(entry, ensure_ascii=False).encode()
            yield (b"\n  " if first else b",\n  ") + line
            first = False
            if written is not None:
                written[:] = [row["seq"]]
        after = rows[-1]["seq"]
    yield b"\n]\n"
