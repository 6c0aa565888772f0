"""Moving recordings of monthly epochs to weekly ones, without re-encrypting audio.

Monthly epoch secrets kept a database backup readable up to ~122 days after a call; weekly
epochs bound that to 7 days past the retention limit. Each live recording of a monthly
epoch gets its data key and caller fields opened with the monthly key pair and sealed again
to its customer's key pair for the recording's ISO week, and its caller index recomputed
under that week's index key; the audio object is untouched (its data key is the same). A
monthly epoch no recording refers to any more is then destroyed at once: from then on no
backup, old or new, opens anything of that month. Idempotent and resumable; needs the
master and the ingest keyrings (`recstore keys reindex`, `up`, `serve --role all`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from crypto import (
    CryptoError,
    blind_index,
    epoch_of,
    normalize_phone,
    open_data_key,
    open_field,
    seal_data_key,
    seal_field,
)
from crypto.epochs import MONTH_PATTERN
from recstore.db import Connection, Pool
from recstore.errors import KeyShredded
from recstore.keys import KeyService
from recstore.recordings.read import IDENTITY_FIELDS
from recstore.recordings.store import field_context
from recstore.retention.epochs import destroy_unused_epoch

log = logging.getLogger("recstore.retention")
BATCH = 500


@dataclass
class MigrationResult:
    moved: int = 0
    skipped: int = 0  # unreadable already (shredded key): left for retention to delete
    destroyed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"moved": self.moved, "skipped": self.skipped, "destroyed": self.destroyed}


async def _move(conn: Connection, keys: KeyService, recording_id: UUID) -> bool:
    row = await conn.fetchrow(
        "SELECT * FROM recordings WHERE id = $1 AND shredded_at IS NULL"
        " AND octet_length(sealed_data_key) > 0 FOR UPDATE", recording_id)
    if row is None or not MONTH_PATTERN.fullmatch(row["epoch"]):
        return False
    customer_id: UUID = row["customer_id"]
    old = await keys.keypair(conn, customer_id, row["epoch"])
    week = epoch_of(row["recorded_at"])
    public_key = await keys.provision(conn, customer_id, week)
    fields: dict[str, bytes | None] = {}
    caller_index = None
    for name in IDENTITY_FIELDS:
        sealed = row[f"{name}_sealed"]
        if sealed is None:
            fields[name] = None
            continue
        context = field_context(name, row["id"])
        value = open_field(old, bytes(sealed), context=context)
        fields[name] = seal_field(public_key, value, context=context)
        if name == "caller_number":
            try:
                caller_index = blind_index(keys.index_key(customer_id, week),
                                           normalize_phone(value))
            except ValueError:
                caller_index = None  # not a number: not searchable, as at ingest
    data_key = open_data_key(old, bytes(row["sealed_data_key"]))
    await conn.execute(
        "UPDATE recordings SET epoch = $2, sealed_data_key = $3, caller_number_sealed = $4,"
        " caller_name_sealed = $5, callee_number_sealed = $6, caller_index = $7 WHERE id = $1",
        row["id"], week, seal_data_key(public_key, data_key), fields["caller_number"],
        fields["caller_name"], fields["callee_number"], caller_index)
    return True


async def migrate_monthly_epochs(pool: Pool, keys: KeyService) -> MigrationResult:
    result = MigrationResult()
    failed: set[UUID] = set()
    while True:
        ids = [r["id"] for r in await pool.fetch(
            "SELECT r.id FROM recordings r JOIN customers c ON c.id = r.customer_id"
            " WHERE r.epoch ~ '^[0-9]{4}-[0-9]{2}$' AND r.shredded_at IS NULL"
            " AND octet_length(r.sealed_data_key) > 0 AND c.erased_at IS NULL"
            " AND NOT r.id = ANY($1::uuid[]) ORDER BY r.id LIMIT $2", list(failed), BATCH)]
        if not ids:
            break
        for recording_id in ids:
            try:
                async with pool.acquire() as conn, conn.transaction():
                    moved = await _move(conn, keys, recording_id)
            except (KeyShredded, CryptoError):
                failed.add(recording_id)
                result.skipped += 1
                continue
            result.moved += int(moved)
            if not moved:
                failed.add(recording_id)
    monthly = {e for e in keys.epochs.epochs() if MONTH_PATTERN.fullmatch(e)}
    monthly |= {r["epoch"] for r in await pool.fetch(
        "SELECT DISTINCT epoch FROM customer_keys WHERE epoch ~ '^[0-9]{4}-[0-9]{2}$'")}
    for epoch in sorted(monthly):
        if await destroy_unused_epoch(pool, keys.epochs, epoch):
            result.destroyed.append(epoch)
    if result.moved or result.destroyed:
        log.info("monthly epochs moved to weekly ones", extra=result.as_dict())
    return result
