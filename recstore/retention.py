"""Hard deletion of recordings past their expiry, in bounded batches.

Per batch: shred the data keys and commit (the audio is unreadable from here on, wherever
copies live), delete every object version, then delete the rows with an ids-only audit
entry. A crash at any step leaves rows still expired, so the next pass finishes the job.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from recstore import audit
from recstore.db import Pool
from recstore.object_store import ObjectStore

log = logging.getLogger("recstore.retention")
EMPTY = b""


async def expired_count(pool: Pool, now: datetime) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM recordings WHERE expires_at <= $1", now)
    return count


async def delete_recordings(pool: Pool, store: ObjectStore, rows: list[Any], action: str,
                            actor_type: audit.ActorType = "system",
                            actor_id: Any = None) -> int:
    """Shred, remove objects, remove rows. Rows are (id, customer_id, object_key) records."""
    if not rows:
        return 0
    ids = [row["id"] for row in rows]
    await pool.execute("UPDATE recordings SET sealed_data_key = $2 WHERE id = ANY($1::uuid[])",
                       ids, EMPTY)
    for row in rows:
        await store.delete(row["object_key"])
    deleted = 0
    async with pool.acquire() as conn, conn.transaction():
        gone = await conn.fetch("DELETE FROM recordings WHERE id = ANY($1::uuid[])"
                                " RETURNING id, customer_id", ids)
        for row in gone:
            await audit.append(conn, row["customer_id"], actor_type=actor_type,
                               actor_id=actor_id, action=action, recording_id=row["id"])
        deleted = len(gone)
    return deleted


async def run_pass(pool: Pool, store: ObjectStore, *, batch_size: int = 200,
                   dry_run: bool = False, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    if dry_run:
        return {"deleted": 0, "would_delete": await expired_count(pool, now), "dry_run": True}
    deleted = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, customer_id, object_key FROM recordings WHERE expires_at <= $1"
                " ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED", now, batch_size)
        if not rows:
            break
        deleted += await delete_recordings(pool, store, list(rows), "recording.expired")
        if len(rows) < batch_size:
            break
    if deleted:
        log.info("retention pass", extra={"count": deleted})
    return {"deleted": deleted, "dry_run": False}


async def oldest_live_age_seconds(pool: Pool, now: datetime | None = None) -> float | None:
    now = now or datetime.now(UTC)
    oldest = await pool.fetchval("SELECT min(recorded_at) FROM recordings")
    return (now - oldest).total_seconds() if oldest is not None else None


async def report(pool: Pool, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    total = await pool.fetchval("SELECT count(*) FROM recordings")
    return {
        "live_recordings": total,
        "oldest_live_age_seconds": await oldest_live_age_seconds(pool, now),
        "overdue": await expired_count(pool, now),
    }
