"""Cleans what crashes and outside hands leave behind, with bounded memory.

- A pending upload older than the grace period whose object never got a row: a writer died
  between put and commit. Its object is removed.
- An object with neither a row nor a pending entry, older than the grace period: removed.
  (Writers record the pending entry before the put and drop it in the row's transaction, so
  "neither" seen in one query is never an upload in flight.)
- A row whose object is missing: reported (error log, audit entry once, the report's count)
  and marked, never deleted. A wrong or empty bucket (a typo, a lagging replica) makes every
  row look like this; deleting them would destroy the only copies of the data keys, after
  which the real objects would be swept as orphans. Such rows go at their expiry like any
  other, or by the customer's or an operator's deletion.

The bucket is listed a page at a time in key order and rows are read over the same key
range in the same (byte) order, so each side stays one page in memory. A row missing from
the listing is confirmed with a HEAD before anything happens to it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from recstore import audit
from recstore.db import Pool
from recstore.object_store import ListedObject, ObjectStore

log = logging.getLogger("recstore.janitor")
DEFAULT_GRACE = timedelta(hours=1)
RECORDINGS_PREFIX = "recordings/"
MISSING_ACTION = "recording.object_missing"
PAGE = 1000
HEAD_CONCURRENCY = 8


@dataclass
class JanitorReport:
    orphans_removed: int = 0  # objects without a row (in dry runs: would be removed)
    pending_cleared: int = 0
    rows_missing_object: int = 0  # confirmed missing this pass (marked or removed)
    dry_run: bool = False
    listing_ordered: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Context:
    pool: Pool
    store: ObjectStore
    cutoff: datetime  # older than this is past the grace period
    dry_run: bool
    report: JanitorReport = field(default_factory=JanitorReport)


async def clean_pending(ctx: _Context) -> None:
    while True:
        rows = await ctx.pool.fetch(
            "SELECT p.object_key, EXISTS (SELECT 1 FROM recordings r WHERE r.object_key = p.object_key)"
            " AS has_row FROM pending_uploads p WHERE p.started_at < $1 ORDER BY p.started_at"
            " LIMIT $2", ctx.cutoff, PAGE)
        if ctx.dry_run:
            ctx.report.pending_cleared = len(rows)
            ctx.report.orphans_removed += sum(1 for row in rows if not row["has_row"])
            return
        for row in rows:
            await _clear_pending(ctx, row["object_key"])
        if len(rows) < PAGE:
            return


async def _clear_pending(ctx: _Context, key: str) -> None:
    """Claim one stale pending entry and remove its object unless a row took it.

    The entry is deleted first, in a transaction held while the object goes: a writer that
    is still alive (an upload slower than the grace period) deletes the same entry in the
    transaction that commits its row, so exactly one of the two wins. If the janitor wins,
    the writer's commit finds no entry and fails (the client retries); if the writer wins,
    the row exists and its object stays. A failed object removal keeps the entry."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        claimed = await conn.fetchval(
            "DELETE FROM pending_uploads p WHERE p.object_key = $1 RETURNING NOT EXISTS"
            " (SELECT 1 FROM recordings r WHERE r.object_key = p.object_key)", key)
        if claimed is None:
            return  # its writer committed (or cleaned up) meanwhile
        if claimed:
            # A writer killed mid-multipart leaves parts that no listing shows.
            await ctx.store.abort_incomplete(key)
            await ctx.store.delete(key)
            ctx.report.orphans_removed += 1
    ctx.report.pending_cleared += 1


async def _remove_orphans(ctx: _Context, page: list[ListedObject]) -> None:
    keys = [o.key for o in page]
    known = {row["object_key"] for row in await ctx.pool.fetch(
        "SELECT object_key FROM recordings WHERE object_key = ANY($1::text[])"
        " UNION ALL SELECT object_key FROM pending_uploads WHERE object_key = ANY($1::text[])", keys)}
    for obj in page:
        if obj.key in known or (obj.last_modified is not None and obj.last_modified >= ctx.cutoff):
            continue
        if not ctx.dry_run:
            await ctx.store.delete(obj.key)
        ctx.report.orphans_removed += 1
    if not ctx.dry_run:  # an object that came back clears its row's mark
        await ctx.pool.execute(
            "UPDATE recordings SET object_missing_since = NULL"
            " WHERE object_key = ANY($1::text[]) AND object_missing_since IS NOT NULL", keys)


async def _rows_not_listed(ctx: _Context, after: str, upto: str | None,
                           listed: list[str]) -> None:
    """Rows with keys in (after, upto] that the listing did not show: confirm and act."""
    gate = asyncio.Semaphore(HEAD_CONCURRENCY)

    async def missing(key: str) -> bool:
        async with gate:
            return await ctx.store.size_of(key) is None

    while True:
        rows = await ctx.pool.fetch(
            "SELECT id, customer_id, object_key, object_missing_since FROM recordings"
            " WHERE starts_with(object_key, $5) AND object_key COLLATE \"C\" > $1"
            " AND ($2::text IS NULL OR object_key COLLATE \"C\" <= $2)"
            " AND NOT (object_key = ANY($3::text[]))"
            " AND shredded_at IS NULL AND deletion_claimed_by IS NULL"
            " ORDER BY object_key COLLATE \"C\" LIMIT $4", after, upto, listed, PAGE,
            RECORDINGS_PREFIX)
        confirmed = await asyncio.gather(*(missing(row["object_key"]) for row in rows))
        for row, gone in zip(rows, confirmed, strict=True):
            if gone:
                await _missing_object(ctx, row["id"], row["customer_id"],
                                      row["object_missing_since"])
        if len(rows) < PAGE:
            return
        after = rows[-1]["object_key"]


async def _missing_object(ctx: _Context, recording_id: UUID, customer_id: UUID,
                          since: datetime | None) -> None:
    ctx.report.rows_missing_object += 1
    log.error("recording row without object", extra={"recording_id": str(recording_id)})
    if ctx.dry_run:
        return
    if since is not None:
        return  # marked and reported before
    async with ctx.pool.acquire() as conn, conn.transaction():
        marked = await conn.fetchval(
            "UPDATE recordings SET object_missing_since = now() WHERE id = $1"
            " AND object_missing_since IS NULL RETURNING id", recording_id)
        if marked:
            await audit.append(conn, customer_id, actor_type="system", actor_id=None,
                               action=MISSING_ACTION, recording_id=recording_id)


async def sweep(ctx: _Context) -> None:
    after = RECORDINGS_PREFIX
    async for page in ctx.store.iter_pages(RECORDINGS_PREFIX, PAGE):
        keys = [o.key for o in page]
        await _remove_orphans(ctx, page)
        if ctx.report.listing_ordered and (keys != sorted(keys) or keys[0] <= after):
            # Only a store that lists out of byte order gets here: rows cannot be matched
            # against the listing, so no row is judged missing this pass.
            ctx.report.listing_ordered = False
            log.warning("object store lists keys out of order; missing-object check skipped")
        if ctx.report.listing_ordered:
            await _rows_not_listed(ctx, after, keys[-1], keys)
            after = keys[-1]
    if ctx.report.listing_ordered:
        await _rows_not_listed(ctx, after, None, [])


async def run(pool: Pool, store: ObjectStore, *, grace: timedelta = DEFAULT_GRACE,
              now: datetime | None = None, dry_run: bool = False) -> JanitorReport:
    ctx = _Context(pool, store, (now or datetime.now(UTC)) - grace, dry_run,
                   JanitorReport(dry_run=dry_run))
    await clean_pending(ctx)
    await sweep(ctx)
    if ctx.report.orphans_removed:
        log.info("janitor removed orphan objects", extra={"count": ctx.report.orphans_removed})
    return ctx.report
