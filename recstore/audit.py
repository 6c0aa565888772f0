"""Append-only, hash-chained audit log per customer. Entries hold ids only."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from recstore.db import Connection
from recstore.errors import Invalid

ActorType = Literal["customer", "staff", "system", "provider"]
GENESIS_HASH = bytes(32)


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_entry(entry: dict[str, Any]) -> bytes:
    """The bytes an entry's hash covers; documented in docs/AUDIT.md so customers can verify."""
    fields = {
        "id": str(entry["id"]),
        "customer_id": str(entry["customer_id"]),
        "seq": entry["seq"],
        "at": _rfc3339(entry["at"]),
        "actor_type": entry["actor_type"],
        "actor_id": str(entry["actor_id"]) if entry["actor_id"] else None,
        "action": entry["action"],
        "recording_id": str(entry["recording_id"]) if entry["recording_id"] else None,
        "grant_id": str(entry["grant_id"]) if entry["grant_id"] else None,
        "prev_hash": bytes(entry["prev_hash"]).hex(),
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def entry_hash(entry: dict[str, Any]) -> bytes:
    return hashlib.sha256(canonical_entry(entry)).digest()


async def append(
    conn: Connection,
    customer_id: UUID,
    *,
    actor_type: ActorType,
    actor_id: UUID | None,
    action: str,
    recording_id: UUID | None = None,
    grant_id: UUID | None = None,
) -> UUID:
    """Append one entry. Serialised per customer by a transaction-scoped advisory lock."""
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))", str(customer_id)
        )
        head = await conn.fetchrow(
            "SELECT seq, hash FROM audit_log WHERE customer_id = $1 ORDER BY seq DESC LIMIT 1",
            customer_id,
        )
        entry: dict[str, Any] = {
            "id": uuid.uuid4(),
            "customer_id": customer_id,
            "seq": (head["seq"] + 1) if head else 1,
            "at": datetime.now(UTC),
            "actor_type": actor_type,
            "actor_id": actor_id,
            "action": action,
            "recording_id": recording_id,
            "grant_id": grant_id,
            "prev_hash": bytes(head["hash"]) if head else GENESIS_HASH,
        }
        entry["hash"] = entry_hash(entry)
        await conn.execute(
            "INSERT INTO audit_log (id, customer_id, seq, at, actor_type, actor_id, action,"
            " recording_id, grant_id, prev_hash, hash)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            *(entry[k] for k in ("id", "customer_id", "seq", "at", "actor_type", "actor_id",
                                 "action", "recording_id", "grant_id", "prev_hash", "hash")),
        )
    entry_id: UUID = entry["id"]
    return entry_id


@dataclass(frozen=True)
class ChainCheck:
    entries: int
    first_broken_seq: int | None
    reason: str | None = None


def broken_link(entry: dict[str, Any], expected_seq: int, prev: bytes) -> str | None:
    """Why this entry does not continue the chain, or None when it does."""
    if entry["seq"] != expected_seq:
        return "an entry is missing or out of order"
    if bytes(entry["prev_hash"]) != prev:
        return "prev_hash does not match the previous entry's hash"
    if entry_hash(entry) != bytes(entry["hash"]):
        return "the entry was altered after it was written"
    return None


async def verify_chain(conn: Connection, customer_id: UUID) -> ChainCheck:
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    async with conn.transaction():
        async for row in conn.cursor(
            "SELECT * FROM audit_log WHERE customer_id = $1 ORDER BY seq", customer_id
        ):
            entry = dict(row)
            count += 1
            reason = broken_link(entry, expected_seq, prev)
            if reason is not None:
                # A gap is reported at the missing position, not at the entry after it.
                return ChainCheck(count, min(entry["seq"], expected_seq), reason)
            prev = bytes(entry["hash"])
            expected_seq += 1
    return ChainCheck(count, None)


def rfc3339(at: datetime) -> str:
    """`at` exactly as the hash covers it (always six fractional digits, UTC, "Z")."""
    return _rfc3339(at)


def public_entry(row: Any) -> dict[str, Any]:
    """One entry as the customer sees it (access log API and export): ids, hashes in hex."""
    return {
        "id": row["id"], "seq": row["seq"], "at": row["at"], "actor_type": row["actor_type"],
        "actor_id": row["actor_id"], "action": row["action"],
        "recording_id": row["recording_id"], "grant_id": row["grant_id"],
        "prev_hash": bytes(row["prev_hash"]).hex(), "hash": bytes(row["hash"]).hex(),
    }


SEQ_CURSOR_PATTERN = r"^[0-9]{1,18}$"  # the position in the chain; any such value pages


def _encode_seq(seq: int) -> str:
    return str(seq)


def _decode_seq(cursor: str) -> int:
    if not re.fullmatch(SEQ_CURSOR_PATTERN, cursor):
        raise Invalid("cursor is not valid")
    return int(cursor)


async def list_entries(conn: Connection, customer_id: UUID, *, limit: int = 50,
                       cursor: str | None = None) -> tuple[list[Any], str | None]:
    """Newest first; the cursor is the position in the chain, so paging is stable."""
    if not 1 <= limit <= 500:
        raise Invalid("limit must be between 1 and 500")
    before = _decode_seq(cursor) if cursor else None
    rows = await conn.fetch(
        "SELECT * FROM audit_log WHERE customer_id = $1 AND ($2::bigint IS NULL OR seq < $2)"
        " ORDER BY seq DESC LIMIT $3", customer_id, before, limit + 1)
    if len(rows) > limit:
        return list(rows[:limit]), _encode_seq(rows[limit - 1]["seq"])
    return list(rows), None


async def export_entries(conn: Connection, customer_id: UUID) -> list[dict[str, Any]]:
    """The whole chain, oldest first, JSON-ready: what the standalone verifier in
    docs/AUDIT.md checks."""
    rows = await conn.fetch("SELECT * FROM audit_log WHERE customer_id = $1 ORDER BY seq",
                            customer_id)
    out = []
    for row in rows:
        entry = public_entry(row)
        entry.update(customer_id=str(customer_id), at=rfc3339(row["at"]))
        out.append({key: str(value) if isinstance(value, UUID) else value
                    for key, value in entry.items()})
    return out
