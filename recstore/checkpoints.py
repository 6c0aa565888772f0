"""Signed checkpoints of a customer's access-log head (CONTRACT.md "Access-log checkpoints").

A checkpoint says "entry `seq` of this customer's chain has hash `hash`", signed with the
audit key outside the database. A customer who keeps one can later prove that the log still
extends it: cutting entries off the end, or rewriting and re-hashing history, yields a chain
that no longer contains that `seq` with that `hash`, and nobody without the key can sign a
checkpoint for the forged chain.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from recstore import audit, audit_keys
from recstore.audit_keys import AuditKeys
from recstore.db import Connection
from recstore.errors import RecstoreError

PREFIX = "recstore-audit-checkpoint-v1"
FIELDS = ("customer_id", "seq", "hash", "at", "key_id", "signature")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class CheckpointInvalid(RecstoreError):
    """A checkpoint that cannot be checked at all (malformed, another customer's, unknown
    key): distinct from one that is checked and does not hold."""

    title = "The checkpoint cannot be checked"


@dataclass(frozen=True)
class Checkpoint:
    customer_id: UUID
    seq: int
    hash: str  # lowercase hex
    at: str  # RFC 3339, exactly as signed
    key_id: str
    signature: str  # base64

    def as_json(self) -> dict[str, Any]:
        return {"customer_id": str(self.customer_id), "seq": self.seq, "hash": self.hash,
                "at": self.at, "key_id": self.key_id, "signature": self.signature}


def message(customer_id: UUID | str, seq: int, hash_hex: str, at: str) -> bytes:
    return f"{PREFIX}\n{customer_id}\n{seq}\n{hash_hex}\n{at}".encode()


def sign(keys: AuditKeys, customer_id: UUID, seq: int, hash_hex: str,
         at: datetime | None = None) -> Checkpoint:
    when = audit.rfc3339(at or datetime.now(UTC))
    signature = keys.sign(message(customer_id, seq, hash_hex, when))
    return Checkpoint(customer_id, seq, hash_hex, when, keys.key_id,
                      base64.b64encode(signature).decode())


async def head(conn: Connection, customer_id: UUID, *, at_most: int | None = None
               ) -> tuple[int, str]:
    """(seq, hash hex) of the newest entry (at or below ``at_most``); (0, zeros) when empty."""
    row = await conn.fetchrow(
        "SELECT seq, hash FROM audit_log WHERE customer_id = $1"
        " AND ($2::bigint IS NULL OR seq <= $2) ORDER BY seq DESC LIMIT 1", customer_id, at_most)
    if row is None:
        return 0, audit.GENESIS_HASH.hex()
    return int(row["seq"]), bytes(row["hash"]).hex()


async def current(conn: Connection, keys_file: Path, customer_id: UUID, *,
                  at_most: int | None = None) -> Checkpoint:
    """A fresh checkpoint of the customer's chain head, signed with the current key."""
    seq, hash_hex = await head(conn, customer_id, at_most=at_most)
    return sign(audit_keys.current(keys_file), customer_id, seq, hash_hex)


def public_keys(keys: AuditKeys) -> list[dict[str, str]]:
    return [{"key_id": key_id, "public_key": audit_keys.b64(bytes(key))}
            for key_id, key in sorted(keys.public_keys().items())]


# -- checking a checkpoint a customer holds ------------------------------------------------

def parse(data: Any) -> Checkpoint:
    """A checkpoint object, or any JSON object carrying one under "checkpoint" (an
    access-log page); CheckpointInvalid says what is wrong with it."""
    if isinstance(data, dict) and isinstance(data.get("checkpoint"), dict):
        data = data["checkpoint"]
    if not isinstance(data, dict):
        raise CheckpointInvalid("a checkpoint is a JSON object with " + ", ".join(FIELDS))
    missing = [name for name in FIELDS if name not in data]
    if missing:
        raise CheckpointInvalid("the checkpoint lacks " + ", ".join(missing))
    seq, hash_hex = data["seq"], data["hash"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise CheckpointInvalid("seq must be a non-negative integer")
    if not isinstance(hash_hex, str) or not _HEX64.fullmatch(hash_hex):
        raise CheckpointInvalid("hash must be 64 lowercase hex digits")
    if not all(isinstance(data[k], str) for k in ("customer_id", "at", "key_id", "signature")):
        raise CheckpointInvalid("customer_id, at, key_id and signature must be strings")
    try:
        customer_id = UUID(data["customer_id"])
    except ValueError:
        raise CheckpointInvalid("customer_id is not a UUID") from None
    try:
        if len(base64.b64decode(data["signature"], validate=True)) != 64:
            raise ValueError
    except (binascii.Error, ValueError):
        raise CheckpointInvalid("signature is not 64 bytes of base64") from None
    return Checkpoint(customer_id, seq, hash_hex, data["at"], data["key_id"], data["signature"])


def read_file(path: Path) -> Checkpoint:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointInvalid(f"cannot read the checkpoint file: {type(exc).__name__}") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise CheckpointInvalid("the checkpoint file is not JSON") from None
    return parse(data)


def signature_holds(keys: AuditKeys, checkpoint: Checkpoint) -> bool:
    """True/False whether the signature verifies; CheckpointInvalid for an unknown key."""
    try:
        return keys.verify(checkpoint.key_id,
                           message(checkpoint.customer_id, checkpoint.seq, checkpoint.hash,
                                   checkpoint.at),
                           base64.b64decode(checkpoint.signature))
    except KeyError:
        raise CheckpointInvalid(f"the checkpoint is signed by key {checkpoint.key_id!r},"
                                " which never signed here") from None


async def extends(conn: Connection, checkpoint: Checkpoint) -> str | None:
    """Why the stored chain does not extend ``checkpoint``, or None when it does."""
    if checkpoint.seq == 0:
        return None if checkpoint.hash == audit.GENESIS_HASH.hex() else (
            "the checkpoint of an empty chain must carry the genesis hash")
    stored = await conn.fetchval("SELECT hash FROM audit_log WHERE customer_id = $1 AND seq = $2",
                                 checkpoint.customer_id, checkpoint.seq)
    if stored is None:
        return f"the chain no longer has entry {checkpoint.seq}: it was cut below the checkpoint"
    if bytes(stored).hex() != checkpoint.hash:
        return f"entry {checkpoint.seq} differs from the checkpoint: history was rewritten"
    return None
