"""Cleans what crashes leave behind: objects whose row never got committed.

Two sources: `pending_uploads` entries older than the grace period (a writer died between
put and commit), and a sweep of the bucket for objects that have neither a row nor a
pending entry. Rows whose object is missing are reported, never silently dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from recstore.db import Pool
from recstore.object_store import ObjectStore

log = logging.getLogger("recstore.janitor")
DEFAULT_GRACE = timedelta(hours=1)
RECORDINGS_PREFIX = "recordings/"


@dataclass
class JanitorReport:
    orphans_removed: int = 0
    rows_missing_object: list[str] = field(default_factory=list)


async def clean_pending(pool: Pool, store: ObjectStore, grace: timedelta = DEFAULT_GRACE) -> int:
    rows = await pool.fetch(
        "SELECT p.object_key, r.id AS recording_id FROM pending_uploads p"
        " LEFT JOIN recordings r ON r.object_key = p.object_key"
        " WHERE p.started_at < now() - $1::interval", grace)
    removed = 0
    for row in rows:
        if row["recording_id"] is None:
            await store.delete(row["object_key"])
            removed += 1
        await pool.execute("DELETE FROM pending_uploads WHERE object_key = $1", row["object_key"])
    return removed


async def sweep_bucket(pool: Pool, store: ObjectStore) -> int:
    """Objects with no row and no pending entry. Call with the writers' grace in mind: an
    object is written only after its pending entry exists, so the check is race-free."""
    removed = 0
    for key in await store.list_keys(RECORDINGS_PREFIX):
        known = await pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM recordings WHERE object_key = $1)"
            " OR EXISTS (SELECT 1 FROM pending_uploads WHERE object_key = $1)", key)
        if not known:
            await store.delete(key)
            removed += 1
    return removed


async def rows_without_object(pool: Pool, store: ObjectStore, limit: int = 1000) -> list[str]:
    missing = []
    for row in await pool.fetch("SELECT id, object_key FROM recordings ORDER BY received_at"
                                " LIMIT $1", limit):
        if await store.size_of(row["object_key"]) is None:
            missing.append(str(row["id"]))
    return missing


async def run(pool: Pool, store: ObjectStore, grace: timedelta = DEFAULT_GRACE,
              check_rows: bool = False) -> JanitorReport:
    report = JanitorReport()
    report.orphans_removed = await clean_pending(pool, store, grace) + await sweep_bucket(pool, store)
    if check_rows:
        report.rows_missing_object = await rows_without_object(pool, store)
        for recording_id in report.rows_missing_object:
            log.error("recording row without object", extra={"recording_id": recording_id})
    if report.orphans_removed:
        log.info("janitor removed orphan objects", extra={"count": report.orphans_removed})
    return report
