"""Group commit for job inserts: the webhooks' jobs that arrive while one INSERT is in flight
go into the next one, so a burst of callbacks costs a few statements and commits, not one
each. Every caller still returns only after the transaction holding its row committed, and
with one caller at a time nothing waits: there is no timer, only the natural queue.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from uuid import UUID

from recstore.db import Pool

MAX_BATCH = 500
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
        self._flusher: asyncio.Task[None] | None = None

    async def insert(self, row: JobRow) -> bool:
        """True when the row was inserted, False when that recording already had a job."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                inserted = await self._insert([row for row, _ in batch])
            except BaseException as exc:
                stopped = not isinstance(exc, Exception)
                if stopped:  # cancelled: nobody will flush the rest either
                    batch, self._waiting = batch + self._waiting, []
                failure = RuntimeError("the job queue stopped") if stopped else exc
                for _, future in batch:
                    if not future.done():
                        future.set_exception(failure)
                if stopped:
                    raise
                continue
            for row, future in batch:
                if not future.done():  # the webhook's client may have gone away
                    future.set_result(row.id in inserted)

    async def _insert(self, rows: list[JobRow]) -> set[UUID]:
        # Duplicates within one statement are skipped by ON CONFLICT DO NOTHING as well.
        returned = await self.pool.fetch(
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
