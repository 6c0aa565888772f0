"""A customer's own settings: retention (shortening applies to stored recordings at once)
and whether providers' copies are deleted after fetching."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from recstore import audit
from recstore.db import Connection, Pool
from recstore.errors import NotFound
from recstore.object_store import ObjectStore
from recstore.retention.deletion import delete_recordings
from recstore.retention.policy import apply_retention_days

EXPIRED_ACTION = "recording.expired"
_BATCH = 200


@dataclass(frozen=True)
class AccountSettings:
    retention_days: int
    delete_provider_copy: bool


async def get_settings(conn: Connection, customer_id: UUID) -> AccountSettings:
    row = await conn.fetchrow(
        "SELECT retention_days, delete_provider_copy FROM customers"
        " WHERE id = $1 AND erased_at IS NULL", customer_id)
    if row is None:
        raise NotFound()
    return AccountSettings(row["retention_days"], row["delete_provider_copy"])


async def _delete_now_expired(pool: Pool, store: ObjectStore, customer_id: UUID) -> None:
    """What a shorter retention has put past its expiry goes now, not at the next pass."""
    while True:
        rows = await pool.fetch(
            "SELECT id, customer_id, object_key FROM recordings WHERE customer_id = $1"
            " AND expires_at <= now() ORDER BY expires_at LIMIT $2", customer_id, _BATCH)
        if not rows or not await delete_recordings(pool, store, list(rows), EXPIRED_ACTION):
            return


async def update_settings(pool: Pool, store: ObjectStore, customer_id: UUID, actor_id: UUID, *,
                          retention_days: int | None = None,
                          delete_provider_copy: bool | None = None) -> AccountSettings:
    async with pool.acquire() as conn:
        before = await get_settings(conn, customer_id)
        async with conn.transaction():
            if retention_days is not None and retention_days != before.retention_days:
                await apply_retention_days(conn, customer_id, retention_days)
                await audit.append(conn, customer_id, actor_type="customer", actor_id=actor_id,
                                   action="settings.retention_changed")
            if (delete_provider_copy is not None
                    and delete_provider_copy != before.delete_provider_copy):
                await conn.execute("UPDATE customers SET delete_provider_copy = $2 WHERE id = $1",
                                   customer_id, delete_provider_copy)
                await audit.append(conn, customer_id, actor_type="customer", actor_id=actor_id,
                                   action="settings.provider_copy_changed")
        after = await get_settings(conn, customer_id)
    if after.retention_days < before.retention_days:
        await _delete_now_expired(pool, store, customer_id)
    return after
