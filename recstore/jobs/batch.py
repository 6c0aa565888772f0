"""Group commit for job inserts: the webhooks' jobs that arrive while INSERTs are in flight
go into the next one, so a burst of callbacks costs a few statements and commits, not one
each. Every caller still returns only after the transaction holding its row committed, and
with one caller at a time nothing waits: there is no timer, only the natural queue. A few
INSERTs may be in flight at once, so a batch never waits for the previous round trip.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from uuid import UUID

from recstore.db import Connection, Pool

MAX_BATCH = 500
MAX_IN_FLIGHT = 3
_MAX_POOLS = 8  # one pool per process in production; tests open one per test


@dataclass(frozen=True)
class JobRow:
    id: UUID
    customer_id: UUID
    provider: str
    provider_recording_id: str
    payload: str  # JSON text
    sealed: bytes


class JobBatcher:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._waiting: list[tuple[JobRow, asyncio.Future[bool]]] = []
        self._active = 0  # flushers that will still look at _waiting
        self._tasks: set[asyncio.Task[None]] = set()

    async def insert(self, row: JobRow) -> bool:
        """True when the row was inserted, False when that recording already had a job."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        if self._active < MAX_IN_FLIGHT:
            self._active += 1
            task = asyncio.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _flush(self) -> None:
        batch: list[tuple[JobRow, asyncio.Future[bool]]] = []
        counted = True
        try:
            async with self.pool.acquire() as conn:  # one connection, one reset, many batches
                while self._waiting:
                    batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                    inserted = await self._insert(conn, [row for row, _ in batch])
                    for row, future in batch:
                        if not future.done():  # the webhook's client may have gone away
                            future.set_result(row.id in inserted)
                    batch = []
                # No await between seeing nothing waiting and leaving the count: a row added
                # from here on starts a flusher of its own.
                self._active -= 1
                counted = False
        except BaseException as exc:
            # The database is failing or the process stops: everyone waiting hears so (and
            # the provider retries) rather than hanging on a flusher that is gone.
            failed, self._waiting = batch + self._waiting, []
            failure = exc if isinstance(exc, Exception) else RuntimeError("the job queue stopped")
            for _, future in failed:
                if not future.done():
                    future.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
        finally:
            if counted:
                self._active -= 1

    @staticmethod
    async def _insert(conn: Connection, rows: list[JobRow]) -> set[UUID]:
        # Duplicates within one statement are skipped by ON CONFLICT DO NOTHING as well.
        returned = await conn.fetch(
            "INSERT INTO ingest_jobs (id, customer_id, provider, provider_recording_id, payload,"
            " sealed) SELECT id, customer_id, provider, provider_recording_id, payload::jsonb,"
            " sealed FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],"
            " $6::bytea[]) AS t(id, customer_id, provider, provider_recording_id, payload, sealed)"
            " ON CONFLICT (customer_id, provider, provider_recording_id) DO NOTHING RETURNING id",
            [r.id for r in rows], [r.customer_id for r in rows], [r.provider for r in rows],
            [r.provider_recording_id for r in rows], [r.payload for r in rows],
            [r.sealed for r in rows])
        return {record["id"] for record in returned}


_batchers: OrderedDict[int, JobBatcher] = OrderedDict()


def batcher_for(pool: Pool) -> JobBatcher:
    """The pool's batcher (asyncpg pools take no attributes and no weak references)."""
    batcher = _batchers.get(id(pool))
    if batcher is None or batcher.pool is not pool:
        batcher = _batchers[id(pool)] = JobBatcher(pool)
        while len(_batchers) > _MAX_POOLS:
            _batchers.popitem(last=False)
    return batcher
