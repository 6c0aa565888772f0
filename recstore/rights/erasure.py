"""Right to erasure: one recording, or a whole customer account.

Deleting one recording is the retention deletion run on demand (shred the data key, remove
every object version, remove the row, audit ids only).

Erasing an account happens in two phases. `request_erasure` is one transaction that makes
everything unreadable and unusable at once: the customer's wrapped private keys are
overwritten (the rows themselves must outlive the recordings that reference them), the
customer is marked erased, and every token issued so far stops working. `run_erasure` then
removes the rest step by step under a lease in `customer_erasures`: recordings (objects,
data keys, rows), stray objects under the customer's prefix, key rows, and the personal
parts of users, grants, access requests and the customer row. Every step is idempotent, so
a run that dies anywhere is simply run again (`resume_pending`, or the CLI).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from recstore import audit
from recstore.db import Connection, Pool
from recstore.errors import NotFound, Unavailable
from recstore.object_store import ObjectStore
from recstore.recordings.read import get_row
from recstore.retention.deletion import delete_recordings

log = logging.getLogger("recstore.erasure")

BATCH_SIZE = 200
LEASE = timedelta(minutes=5)
RETRY_AFTER_FAILURE = timedelta(seconds=30)
# Tables of other features holding customer data that goes with the account. Every one
# exists: serve and worker refuse to start with a migration pending.
_CUSTOMER_TABLES = ("grant_keys", "customer_keys", "ingest_jobs", "provider_accounts",
                    "notification_webhooks", "notifications", "portal_sessions",
                    "recording_reads")


@dataclass(frozen=True)
class ErasureStatus:
    customer_id: UUID
    state: str
    requested_at: datetime
    finished_at: datetime | None
    recordings_erased: int
    objects_erased: int
    recordings_remaining: int
    attempts: int
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {name: str(value) if isinstance(value, UUID) else value
                for name, value in asdict(self).items()}


async def live_row(conn: Connection, customer_id: UUID, recording_id: UUID) -> asyncpg.Record:
    """The customer's recording, unless its deletion has begun: once the data key is shredded
    it is gone to every reader, even while its object and row are still being removed."""
    row = await get_row(conn, customer_id, recording_id)
    if not row["sealed_data_key"]:
        raise NotFound()
    return row


async def erase_recording(pool: Pool, store: ObjectStore, customer_id: UUID,
                          recording_id: UUID, actor_id: UUID) -> None:
    """NotFound for another customer's recording, exactly as for a missing one."""
    async with pool.acquire() as conn:
        row = await live_row(conn, customer_id, recording_id)
    await delete_recordings(pool, store, [row], "recording.deleted", "customer", actor_id)


async def request_erasure(pool: Pool, customer_id: UUID, actor_id: UUID) -> ErasureStatus:
    """Phase one, at once and in one transaction. Asking again changes nothing."""
    async with pool.acquire() as conn, conn.transaction():
        customer = await conn.fetchrow(
            "SELECT erased_at FROM customers WHERE id = $1 FOR UPDATE", customer_id)
        requested = await conn.fetchval(
            "SELECT 1 FROM customer_erasures WHERE customer_id = $1", customer_id)
        if requested is None:
            if customer is None or customer["erased_at"] is not None:
                raise NotFound()
            await conn.execute(
                "UPDATE customers SET erased_at = now(), tokens_valid_after = now() WHERE id = $1",
                customer_id)
            # Crypto-shredding: without these no recording or caller field opens again.
            await conn.execute(
                "UPDATE customer_keys SET wrapped_private_key = ''::bytea WHERE customer_id = $1",
                customer_id)
            await conn.execute(
                "INSERT INTO customer_erasures (customer_id, requested_by) VALUES ($1, $2)",
                customer_id, actor_id)
            await audit.append(conn, customer_id, actor_type="customer", actor_id=actor_id,
                               action="account.erasure_requested")
    return await erasure_status(pool, customer_id)


async def erasure_status(pool: Pool, customer_id: UUID) -> ErasureStatus:
    row = await pool.fetchrow("SELECT * FROM customer_erasures WHERE customer_id = $1",
                              customer_id)
    if row is None:
        raise NotFound("no erasure was requested for this customer")
    remaining = await pool.fetchval("SELECT count(*) FROM recordings WHERE customer_id = $1",
                                    customer_id)
    return ErasureStatus(customer_id, row["state"], row["requested_at"], row["finished_at"],
                         row["recordings_erased"], row["objects_erased"], remaining,
                         row["attempts"], row["last_error"])


async def _take_lease(pool: Pool, customer_id: UUID, owner: UUID) -> bool:
    taken = await pool.fetchval(
        "UPDATE customer_erasures SET lease_owner = $2, lease_until = now() + $3::interval,"
        " attempts = attempts + 1, updated_at = now() WHERE customer_id = $1"
        " AND state = 'running' AND (lease_until IS NULL OR lease_until < now())"
        " RETURNING 1", customer_id, owner, LEASE)
    return taken is not None


async def _progress(pool: Pool, customer_id: UUID, owner: UUID, *, recordings: int = 0,
                    objects: int = 0) -> None:
    """Count progress and renew the lease; stop if another run took it over meanwhile."""
    held = await pool.fetchval(
        "UPDATE customer_erasures SET recordings_erased = recordings_erased + $3,"
        " objects_erased = objects_erased + $4, lease_until = now() + $5::interval,"
        " updated_at = now() WHERE customer_id = $1 AND lease_owner = $2 RETURNING 1",
        customer_id, owner, recordings, objects, LEASE)
    if held is None:
        raise Unavailable("the erasure lease was lost to another run")


async def _erase_recordings(pool: Pool, store: ObjectStore, customer_id: UUID,
                            owner: UUID) -> None:
    while True:
        batch = await pool.fetch(
            "SELECT id, customer_id, object_key FROM recordings WHERE customer_id = $1"
            " ORDER BY id LIMIT $2", customer_id, BATCH_SIZE)
        if not batch:
            return
        deleted = await delete_recordings(pool, store, list(batch), "recording.erased")
        if deleted == 0:
            raise Unavailable("recordings could not be deleted; retrying later")
        await _progress(pool, customer_id, owner, recordings=deleted, objects=deleted)


async def _erase_stray_objects(pool: Pool, store: ObjectStore, customer_id: UUID,
                               owner: UUID) -> None:
    """Objects of uploads that never committed (or are committing right now: their row then
    fails on the missing key rows, or is caught by the next run)."""
    stray = await store.list_keys(f"recordings/{customer_id}/")
    for key in stray:
        await store.delete(key)
    await pool.execute("DELETE FROM pending_uploads WHERE customer_id = $1", customer_id)
    await _progress(pool, customer_id, owner, objects=len(stray))


async def _scrub(conn: Connection, customer_id: UUID) -> None:
    """Everything personal that is not a recording; ids and the audit log stay (DESIGN.md)."""
    for table in _CUSTOMER_TABLES:
        await conn.execute(f"DELETE FROM {table} WHERE customer_id = $1",  # noqa: S608 - constants
                           customer_id)
    await conn.execute(
        "UPDATE grants SET purpose = '', revoked_at = coalesce(revoked_at, now())"
        " WHERE customer_id = $1", customer_id)
    await conn.execute(
        "UPDATE access_requests SET reason = '', ticket = '',"
        " status = CASE WHEN status = 'pending' THEN 'expired' ELSE status END"
        " WHERE customer_id = $1", customer_id)
    await conn.execute(
        "UPDATE users SET email = NULL, password_hash = NULL,"
        " disabled_at = coalesce(disabled_at, now()) WHERE customer_id = $1", customer_id)
    await conn.execute(
        "UPDATE customers SET name = NULL, email = NULL, phone = NULL, org_number = NULL,"
        " webhook_secret_wrapped = ''::bytea, index_key_wrapped = ''::bytea WHERE id = $1",
        customer_id)


async def run_erasure(pool: Pool, store: ObjectStore, customer_id: UUID) -> bool:
    """Phase two. False when there is nothing to do here (done, or another run holds it)."""
    owner = uuid.uuid4()
    if not await _take_lease(pool, customer_id, owner):
        return False
    try:
        await _erase_recordings(pool, store, customer_id, owner)
        await _erase_stray_objects(pool, store, customer_id, owner)
        async with pool.acquire() as conn, conn.transaction():
            await _scrub(conn, customer_id)
            finished = await conn.fetchval(
                "UPDATE customer_erasures SET state = 'done', finished_at = now(),"
                " lease_owner = NULL, lease_until = NULL, last_error = NULL, updated_at = now()"
                " WHERE customer_id = $1 AND lease_owner = $2 RETURNING 1", customer_id, owner)
            if finished is None:
                raise Unavailable("the erasure lease was lost to another run")
            await audit.append(conn, customer_id, actor_type="system", actor_id=None,
                               action="account.erased")
    except Exception as exc:
        # The reason only (an exception name): messages may name keys or hosts.
        await pool.execute(
            "UPDATE customer_erasures SET last_error = $3, lease_owner = NULL,"
            " lease_until = now() + $4::interval, updated_at = now()"
            " WHERE customer_id = $1 AND lease_owner = $2",
            customer_id, owner, type(exc).__name__, RETRY_AFTER_FAILURE)
        log.warning("account erasure interrupted; it will be resumed",
                    extra={"customer_id": str(customer_id), "error": type(exc).__name__})
        raise
    log.info("account erased", extra={"customer_id": str(customer_id)})
    return True


async def resume_pending(pool: Pool, store: ObjectStore) -> int:
    """Finish every erasure whose lease is free (crashed runs, failed ones past their wait)."""
    due = await pool.fetch(
        "SELECT customer_id FROM customer_erasures WHERE state = 'running'"
        " AND (lease_until IS NULL OR lease_until < now()) ORDER BY requested_at")
    finished = 0
    for row in due:
        # A failure is recorded on its row and logged; the others still get their turn.
        with contextlib.suppress(Exception):
            finished += await run_erasure(pool, store, row["customer_id"])
    return finished
