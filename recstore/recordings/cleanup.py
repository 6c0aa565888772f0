"""Removing what a failed store left behind: its object (or open multipart upload) and its
pending entry.

A store most often fails because the object store or the database is down, which is exactly
when the cleanup fails too. So the first attempt runs inline, and if it fails the cleanup is
retried in the background with backoff until both are gone or the deadline passes; only a
process killed meanwhile leaves the entry to the janitor. The caller's own error is what the
client sees: a failing cleanup never replaces it.
"""

from __future__ import annotations

import asyncio
import logging
import random

from recstore.db import Pool
from recstore.object_store import ObjectStore

log = logging.getLogger("recstore.storing")
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 15.0
RETRY_DEADLINE_SECONDS = 600.0

_retrying: set[asyncio.Task[None]] = set()


class _Leftover:
    """One failed store's leftovers; each step is done once."""

    def __init__(self, pool: Pool, store: ObjectStore, key: str) -> None:
        self.pool, self.store, self.key = pool, store, key
        self.object_gone = False

    async def remove(self) -> None:
        if not self.object_gone:
            await self.store.abort_incomplete(self.key)
            await self.store.delete(self.key)
            self.object_gone = True
        await self.pool.execute("DELETE FROM pending_uploads WHERE object_key = $1", self.key)

    async def retry(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_DEADLINE_SECONDS
        delay = RETRY_FIRST_SECONDS
        while True:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
            try:
                await self.remove()
            except Exception as exc:
                if loop.time() >= deadline:
                    log.error("cleanup of a failed upload gave up; the janitor will finish it",
                              extra={"reason": type(exc).__name__})
                    return
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            log.info("cleanup of a failed upload finished after retrying")
            return


async def discard(pool: Pool, store: ObjectStore, key: str) -> None:
    """Remove a half-stored object and its pending entry, now or soon; never raises."""
    leftover = _Leftover(pool, store, key)
    try:
        await leftover.remove()
    except Exception as exc:
        log.warning("cleanup of a failed upload failed; retrying in the background",
                    extra={"reason": type(exc).__name__})
        task = asyncio.get_running_loop().create_task(leftover.retry())
        _retrying.add(task)
        task.add_done_callback(_retrying.discard)


def pending_cleanups() -> int:
    return len(_retrying)


async def wait_for_cleanups() -> None:
    """Wait for background cleanups still running (tests, and a graceful shutdown)."""
    while _retrying:
        await asyncio.gather(*list(_retrying), return_exceptions=True)
