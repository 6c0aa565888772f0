"""Hard deletion of recordings, in bounded batches that any number of schedulers share.

A recording goes in three steps, each safe to repeat:

1. claim and shred, in one statement: a lease on the row (`deletion_claimed_by/_until`),
   and the sealed data key and sealed caller fields overwritten. From here on the audio is
   unreadable wherever copies of the object live;
2. delete the object, every version of it (a whole batch in one request where the bucket
   has never been versioned);
3. delete the row and write the audit entry (ids only), in one transaction, and only while
   the claim is still ours, so no recording is ever deleted or audited twice.

A crash anywhere leaves the row expired and claimed: the lease lapses and the next pass, on
any scheduler, finishes the job. A failed object delete gives the row back with a backoff
and counts as a failure; the row stays overdue (and visible in the report) until it is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from recstore import audit
from recstore.db import Pool
from recstore.errors import Unavailable
from recstore.object_store import ObjectStore, ObjectStoreError

log = logging.getLogger("recstore.retention")

DEFAULT_BATCH_SIZE = 200
DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_RETRY_BASE = timedelta(seconds=30)
MAX_RETRY_DELAY = timedelta(hours=1)
DELETE_CONCURRENCY = 8
EXPIRED_ACTION = "recording.expired"

_SHRED = (
    "sealed_data_key = ''::bytea, caller_number_sealed = NULL, caller_name_sealed = NULL,"
    " callee_number_sealed = NULL, caller_index = NULL,"
    " shredded_at = coalesce(r.shredded_at, now()), deletion_claimed_by = $2,"
    " deletion_claimed_until = now() + $3::interval"
)


@dataclass(frozen=True)
class Claimed:
    id: UUID
    customer_id: UUID
    object_key: str


@dataclass
class PassResult:
    deleted: int = 0
    failed: int = 0
    batches: int = 0
    dry_run: bool = False
    would_delete: int | None = None
    errors: list[str] = field(default_factory=list)  # reasons only, never keys or ids

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.dry_run:
            del out["would_delete"]
        return out


@dataclass
class BatchOutcome:
    deleted: int = 0  # rows removed by this worker (a lease taken over is not counted)
    done: list[Claimed] = field(default_factory=list)
    failed: list[tuple[Claimed, str]] = field(default_factory=list)
    postponed: list[Claimed] = field(default_factory=list)


def _claimed(rows: Sequence[Mapping[str, Any]]) -> list[Claimed]:
    return [Claimed(r["id"], r["customer_id"], r["object_key"]) for r in rows]


async def claim_expired(pool: Pool, worker: UUID, *, now: datetime, limit: int,
                        lease: timedelta = DEFAULT_LEASE) -> list[Claimed]:
    """Lease up to `limit` expired recordings nobody holds, oldest expiry first, and shred them."""
    rows = await pool.fetch(
        "WITH due AS (SELECT id FROM recordings WHERE expires_at <= $1"  # noqa: S608 - constants
        " AND (deletion_claimed_until IS NULL OR deletion_claimed_until <= now())"
        " ORDER BY expires_at LIMIT $4 FOR UPDATE SKIP LOCKED),"
        # Grant keys are copies of the data key: shredding destroys them too.
        " unsealed AS (DELETE FROM grant_keys WHERE recording_id IN (SELECT id FROM due))"
        f" UPDATE recordings r SET {_SHRED},"
        " deletion_action = coalesce(r.deletion_action, $5),"
        " deletion_actor_type = coalesce(r.deletion_actor_type, 'system')"
        " FROM due WHERE r.id = due.id RETURNING r.id, r.customer_id, r.object_key",
        now, worker, lease, limit, EXPIRED_ACTION)
    return _claimed(rows)


async def claim_ids(pool: Pool, worker: UUID, ids: Sequence[UUID], *, action: str,
                    actor_type: audit.ActorType, actor_id: UUID | None,
                    lease: timedelta = DEFAULT_LEASE) -> list[Claimed]:
    """Claim and shred named recordings now (an erasure), taking over any scheduler's lease.
    Their expiry moves to now, so whatever fails later is finished by the scheduler."""
    rows = await pool.fetch(
        "WITH named AS (SELECT id FROM recordings WHERE id = ANY($1::uuid[]) FOR UPDATE),"  # noqa: S608
        " unsealed AS (DELETE FROM grant_keys WHERE recording_id IN (SELECT id FROM named))"
        f" UPDATE recordings r SET {_SHRED}, expires_at = least(r.expires_at, now()),"
        " deletion_action = $4, deletion_actor_type = $5, deletion_actor_id = $6"
        " FROM named WHERE r.id = named.id RETURNING r.id, r.customer_id, r.object_key",
        list(ids), worker, lease, action, actor_type, actor_id)
    return _claimed(rows)


async def delete_objects(store: ObjectStore, claimed: Sequence[Claimed],
                         concurrency: int = DELETE_CONCURRENCY) -> BatchOutcome:
    """Delete each claimed object, every version of it. A request that fails outright means
    the store is most likely down: one row counts as failed, the rest are postponed rather
    than hammered."""
    if not claimed:
        return BatchOutcome()
    try:
        if await store.never_versioned():
            errors = await store.delete_unversioned([c.object_key for c in claimed])
            return BatchOutcome(done=[c for c in claimed if c.object_key not in errors],
                                failed=[(c, errors[c.object_key]) for c in claimed
                                        if c.object_key in errors])
    except ObjectStoreError as exc:
        return BatchOutcome(failed=[(claimed[0], str(exc)[:200])], postponed=list(claimed[1:]))
    return await _delete_each(store, claimed, concurrency)


async def _delete_each(store: ObjectStore, claimed: Sequence[Claimed],
                       concurrency: int) -> BatchOutcome:
    outcome = BatchOutcome()
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Claimed) -> None:
        async with gate:
            if outcome.failed:
                outcome.postponed.append(item)
                return
            try:
                await store.delete(item.object_key)
            except ObjectStoreError as exc:
                outcome.failed.append((item, str(exc)[:200]))
                return
            outcome.done.append(item)

    await asyncio.gather(*(one(item) for item in claimed))
    return outcome


async def finish(pool: Pool, worker: UUID, done: Sequence[Claimed]) -> int:
    """Delete the rows still claimed by `worker`, each with its audit entry."""
    if not done:
        return 0
    async with pool.acquire() as conn, conn.transaction():
        gone = await conn.fetch(
            "DELETE FROM recordings WHERE id = ANY($1::uuid[]) AND deletion_claimed_by = $2"
            " RETURNING id, customer_id, deletion_action, deletion_actor_type, deletion_actor_id",
            [item.id for item in done], worker)
        # One customer order for every scheduler: the audit chain locks per customer.
        for row in sorted(gone, key=lambda r: (r["customer_id"], r["id"])):
            await audit.append(conn, row["customer_id"], actor_type=row["deletion_actor_type"],
                               actor_id=row["deletion_actor_id"], action=row["deletion_action"],
                               recording_id=row["id"])
    return len(gone)


async def give_back(pool: Pool, worker: UUID, outcome: BatchOutcome, *,
                    retry_base: timedelta = DEFAULT_RETRY_BASE) -> None:
    """Failed rows come back after an exponential backoff; postponed ones after the base."""
    failed_ids = [item.id for item, _ in outcome.failed]
    if failed_ids:
        await pool.execute(
            "UPDATE recordings r SET deletion_claimed_by = NULL, deletion_error = f.error,"
            " deletion_attempts = r.deletion_attempts + 1,"
            " deletion_claimed_until = now() + least($3::interval * 2 ^ r.deletion_attempts, $4)"
            " FROM unnest($1::uuid[], $5::text[]) AS f(id, error)"
            " WHERE r.id = f.id AND r.deletion_claimed_by = $2",
            failed_ids, worker, retry_base, MAX_RETRY_DELAY, [error for _, error in outcome.failed])
    if outcome.postponed:
        await pool.execute(
            "UPDATE recordings SET deletion_claimed_by = NULL,"
            " deletion_claimed_until = now() + $3::interval"
            " WHERE id = ANY($1::uuid[]) AND deletion_claimed_by = $2",
            [item.id for item in outcome.postponed], worker, retry_base)


async def _release_all(pool: Pool, worker: UUID, claimed: Sequence[Claimed]) -> None:
    with contextlib.suppress(Exception):
        await pool.execute(
            "UPDATE recordings SET deletion_claimed_by = NULL, deletion_claimed_until = NULL"
            " WHERE id = ANY($1::uuid[]) AND deletion_claimed_by = $2",
            [item.id for item in claimed], worker)


async def delete_claimed(pool: Pool, store: ObjectStore, worker: UUID, claimed: Sequence[Claimed],
                         *, concurrency: int = DELETE_CONCURRENCY,
                         retry_base: timedelta = DEFAULT_RETRY_BASE) -> BatchOutcome:
    """Steps 2 and 3 for claimed rows. On cancellation (shutdown) the claims are given back."""
    try:
        outcome = await delete_objects(store, claimed, concurrency)
        outcome.deleted = await finish(pool, worker, outcome.done)
        await give_back(pool, worker, outcome, retry_base=retry_base)
    except asyncio.CancelledError:
        await asyncio.shield(_release_all(pool, worker, claimed))
        raise
    return outcome


async def expired_count(pool: Pool, now: datetime) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM recordings WHERE expires_at <= $1", now)
    return count


async def run_pass(pool: Pool, store: ObjectStore, *, batch_size: int = DEFAULT_BATCH_SIZE,
                   dry_run: bool = False, now: datetime | None = None,
                   lease: timedelta = DEFAULT_LEASE, retry_base: timedelta = DEFAULT_RETRY_BASE,
                   concurrency: int = DELETE_CONCURRENCY,
                   stop: asyncio.Event | None = None) -> PassResult:
    """Delete every expired recording no other scheduler holds, one batch at a time. Stops
    early when the object store fails (the failed rows are retried by a later pass)."""
    now = now or datetime.now(UTC)
    if dry_run:
        return PassResult(dry_run=True, would_delete=await expired_count(pool, now))
    worker = uuid.uuid4()
    result = PassResult()
    while stop is None or not stop.is_set():
        claimed = await claim_expired(pool, worker, now=now, limit=batch_size, lease=lease)
        if not claimed:
            break
        outcome = await delete_claimed(pool, store, worker, claimed, concurrency=concurrency,
                                       retry_base=retry_base)
        result.batches += 1
        result.deleted += outcome.deleted
        result.failed += len(outcome.failed)
        if outcome.failed:
            result.errors = sorted({error for _, error in outcome.failed})
            log.warning("retention pass stopped: object deletes failed",
                        extra={"count": len(outcome.failed), "error": result.errors[0]})
            break
    if result.deleted:
        log.info("retention pass", extra={"count": result.deleted})
    return result


async def delete_recordings(pool: Pool, store: ObjectStore, rows: Sequence[Mapping[str, Any]],
                            action: str, actor_type: audit.ActorType = "system",
                            actor_id: UUID | None = None) -> int:
    """Delete named recordings now (rows carry at least "id"; scoping to one customer is the
    caller's job). Unavailable if the object store fails: the recordings are shredded already
    and the retention scheduler completes the deletion, auditing it with `action`."""
    if not rows:
        return 0
    worker = uuid.uuid4()
    claimed = await claim_ids(pool, worker, [row["id"] for row in rows], action=action,
                              actor_type=actor_type, actor_id=actor_id)
    outcome = await delete_claimed(pool, store, worker, claimed)
    if outcome.failed or outcome.postponed:
        raise Unavailable("the object store failed; the deletion will be completed shortly")
    return outcome.deleted
