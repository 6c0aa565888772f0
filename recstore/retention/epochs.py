"""Destroying a month's key material once every recording of it is past retention.

A month is due at month end + 90 days + grace (`retention_policy.epoch_destroy_after`). For
each due month known to the epoch file or to `customer_keys`:

1. refuse if any recording of it is still unexpired (only a wrong clock or corrupt data can
   cause that; destroying would lose live recordings, so it is reported instead);
2. destroy the epoch secret in the epoch file, leaving a tombstone: from here no copy of
   the database, however old, can open that month's private keys;
3. record the month in `destroyed_epochs`;
4. drop the month's wrapped private keys that no recording row refers to any more, with an
   audit entry per customer.

Every step is idempotent, so a crash between them is finished by the next pass.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from recstore import audit
from recstore.db import Pool
from recstore.epoch_keys import EpochKeyStore
from recstore.retention.policy import EPOCH_GRACE, epoch_destroy_after

log = logging.getLogger("recstore.retention")
KEY_DESTROYED_ACTION = "customer_key.destroyed"


@dataclass
class EpochPassResult:
    due: list[str] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)  # secrets this pass destroyed
    blocked: list[str] = field(default_factory=list)  # due, yet with unexpired recordings
    keys_removed: int = 0

    @property
    def ok(self) -> bool:
        return not self.blocked

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def due_epochs(pool: Pool, epochs: EpochKeyStore, now: datetime,
                     grace: timedelta = EPOCH_GRACE) -> list[str]:
    """Months whose destruction time has come and which still leave a trace somewhere."""
    recorded = {row["epoch"] for row in await pool.fetch("SELECT epoch FROM destroyed_epochs")}
    keyed = {row["epoch"] for row in await pool.fetch("SELECT DISTINCT epoch FROM customer_keys")}
    pending = keyed | set(epochs.epochs()) | (set(epochs.destroyed()) - recorded)
    due = []
    for epoch in sorted(pending):
        try:
            if now >= epoch_destroy_after(epoch, grace):
                due.append(epoch)
        except ValueError:  # not a month name: nothing recstore wrote, so it is reported only
            log.error("unknown retention epoch name; skipped", extra={"epoch": epoch[:16]})
    return due


async def _unexpired(pool: Pool, epoch: str, now: datetime) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM recordings WHERE epoch = $1 AND expires_at > $2", epoch, now)
    return count


async def _drop_unused_keys(pool: Pool, epoch: str) -> int:
    async with pool.acquire() as conn, conn.transaction():
        gone = await conn.fetch(
            "DELETE FROM customer_keys k WHERE k.epoch = $1 AND NOT EXISTS"
            " (SELECT 1 FROM recordings r WHERE r.customer_id = k.customer_id AND r.epoch = k.epoch)"
            " RETURNING k.customer_id", epoch)
        for customer_id in sorted(row["customer_id"] for row in gone):
            await audit.append(conn, customer_id, actor_type="system", actor_id=None,
                               action=KEY_DESTROYED_ACTION)
    return len(gone)


async def run_epoch_pass(pool: Pool, epochs: EpochKeyStore, *, now: datetime | None = None,
                         grace: timedelta = EPOCH_GRACE, dry_run: bool = False) -> EpochPassResult:
    now = now or datetime.now(UTC)
    result = EpochPassResult(due=await due_epochs(pool, epochs, now, grace))
    for epoch in result.due:
        live = await _unexpired(pool, epoch, now)
        if live:
            result.blocked.append(epoch)
            log.error("epoch due for destruction still has unexpired recordings; not destroyed",
                      extra={"epoch": epoch, "count": live})
            continue
        if dry_run:
            continue
        if epochs.destroy(epoch):
            result.destroyed.append(epoch)
            log.info("epoch secret destroyed", extra={"epoch": epoch})
        await pool.execute("INSERT INTO destroyed_epochs (epoch) VALUES ($1) ON CONFLICT DO NOTHING",
                           epoch)
        result.keys_removed += await _drop_unused_keys(pool, epoch)
    return result


async def destroy_unused_epoch(pool: Pool, epochs: EpochKeyStore, epoch: str) -> bool:
    """Destroy an epoch no recording refers to, before it is due (its recordings were moved
    to other epochs); the same steps as a due epoch. Whether it was destroyed now."""
    if await pool.fetchval("SELECT 1 FROM recordings WHERE epoch = $1 LIMIT 1", epoch):
        return False
    existed = epochs.destroy(epoch)
    await pool.execute("INSERT INTO destroyed_epochs (epoch) VALUES ($1) ON CONFLICT DO NOTHING",
                       epoch)
    await _drop_unused_keys(pool, epoch)
    if existed:
        log.info("epoch secret destroyed early: no recording uses it", extra={"epoch": epoch})
    return existed
