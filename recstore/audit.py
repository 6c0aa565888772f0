"""Append-only, hash-chained audit log per customer. Entries hold ids only."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from recstore.db import Connection

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
            if (entry["seq"] != expected_seq or bytes(entry["prev_hash"]) != prev
                    or entry_hash(entry) != bytes(entry["hash"])):
                return ChainCheck(count, entry["seq"])
            prev = bytes(entry["hash"])
            expected_seq += 1
    return ChainCheck(count, None)
