"""The fetch worker: leases jobs, keeps the lease alive while a job runs, retries with
exponential backoff and jitter, and after `max_attempts` moves a job to `dead`.

Any number of workers may run against one database. A worker killed at any instant holds
no state worth keeping: its jobs come back when their leases expire, and the attempt that
follows finds whatever the dead one had already committed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from uuid import UUID

from aiohttp.abc import AbstractResolver

from ingest.pipeline import describe_failure, ingest_job
from ingest.settings import IngestSettings
from recstore.jobs import queue as jobs
from recstore.jobs.queue import Job
from recstore.services import Services

log = logging.getLogger("recstore.ingest")


def backoff_seconds(attempt: int, settings: IngestSettings) -> float:
    """Exponential from the base, capped, with "equal jitter" so retries spread out."""
    ceiling = min(settings.backoff_max_seconds,
                  settings.backoff_base_seconds * 2.0 ** max(attempt - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not secrecy


class Worker:
    def __init__(self, svc: Services, settings: IngestSettings | None = None, *,
                 resolver: AbstractResolver | None = None) -> None:
        self.svc = svc
        self.settings = settings or IngestSettings()
        self.id: UUID = uuid.uuid4()
        self._resolver = resolver

    async def run(self, stop: asyncio.Event) -> None:
        running: set[asyncio.Task[str]] = set()
        loop = asyncio.get_running_loop()
        next_housekeeping = 0.0
        try:
            while not stop.is_set():
                claimed = await self._claim(self.settings.concurrency - len(running))
                for job in claimed:
                    task = asyncio.create_task(self.process(job))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if loop.time() >= next_housekeeping:
                    await self.housekeeping()
                    next_housekeeping = loop.time() + self.settings.housekeeping_seconds
                if not claimed:
                    waiters = {asyncio.ensure_future(stop.wait()), *running}
                    _, pending = await asyncio.wait(waiters, timeout=self.settings.poll_seconds,
                                                    return_when=asyncio.FIRST_COMPLETED)
                    for waiter in pending - running:
                        waiter.cancel()
        finally:
            for task in running:
                task.cancel()  # each one gives its lease back
            await asyncio.gather(*running, return_exceptions=True)

    async def _claim(self, free: int) -> list[Job]:
        if free <= 0:
            return []
        try:
            return await jobs.claim(self.svc.pool, self.id, limit=free,
                                    lease_seconds=self.settings.lease_seconds)
        except Exception:
            log.exception("claiming ingest jobs failed; trying again")
            return []

    async def run_until_idle(self) -> int:
        """Process due jobs until none is left (tests and one-shot runs); returns how many."""
        count = 0
        while claimed := await self._claim(self.settings.concurrency):
            await asyncio.gather(*(self.process(job) for job in claimed))
            count += len(claimed)
        return count

    async def process(self, job: Job) -> str:
        """Run one attempt; returns "done", "retry", "dead" or "lost" (lease taken over)."""
        if job.attempts > self.settings.max_attempts:
            return await self._give_up(job, f"gave up after {self.settings.max_attempts}"
                                            " attempts (the last ones did not finish)")
        work = asyncio.create_task(ingest_job(self.svc, job, self.settings,
                                              resolver=self._resolver))
        try:
            while not (await asyncio.wait({work}, timeout=self.settings.lease_seconds / 3))[0]:
                if not await jobs.renew(self.svc.pool, job.id, self.id,
                                        self.settings.lease_seconds):
                    work.cancel()  # another worker has it now
        except asyncio.CancelledError:
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            await asyncio.shield(jobs.release(self.svc.pool, job.id, self.id))
            raise
        if work.cancelled():
            log.warning("ingest job lease lost", extra={"job_id": str(job.id)})
            return "lost"
        exc = work.exception()
        if exc is None:
            return await self._done(job, work.result().recording_id, work.result().created)
        message, retryable = describe_failure(exc)
        if retryable and job.attempts < self.settings.max_attempts:
            delay = backoff_seconds(job.attempts, self.settings)
            await jobs.fail(self.svc.pool, job.id, self.id, message, retry_in=delay)
            self._count(job, "retry")
            log.warning("ingest attempt failed; will retry", extra={
                "job_id": str(job.id), "provider": job.provider, "attempt": job.attempts,
                "error": message, "reason": type(exc).__name__})
            return "retry"
        self.svc.metrics.ingest_rejected.labels(job.provider, type(exc).__name__).inc()
        return await self._give_up(job, message)

    async def _done(self, job: Job, recording_id: UUID, created: bool) -> str:
        await jobs.complete(self.svc.pool, job.id, self.id, recording_id)
        if created:
            self.svc.metrics.recordings_stored.labels(job.provider).inc()
        self._count(job, "done")
        log.info("ingest job done", extra={"job_id": str(job.id), "provider": job.provider,
                                           "recording_id": str(recording_id)})
        return "done"

    async def _give_up(self, job: Job, message: str) -> str:
        await jobs.fail(self.svc.pool, job.id, self.id, message, retry_in=None)
        self._count(job, "dead")
        log.error("ingest job dead", extra={"job_id": str(job.id), "provider": job.provider,
                                            "attempt": job.attempts, "error": message})
        return "dead"

    def _count(self, job: Job, outcome: str) -> None:
        self.svc.metrics.ingest_job_outcomes.labels(job.provider, outcome).inc()

    async def housekeeping(self) -> None:
        try:
            for status, count in (await jobs.status_counts(self.svc.pool)).items():
                self.svc.metrics.ingest_jobs.labels(status).set(count)
            await jobs.purge_finished(self.svc.pool,
                                      older_than_days=self.settings.keep_finished_days)
        except Exception:
            log.exception("ingest housekeeping failed; trying again later")


async def run_ingest_worker(svc: Services, stop: asyncio.Event) -> None:
    """The worker `recstore worker` and `recstore up` run, configured by RECSTORE_INGEST_*."""
    await Worker(svc).run(stop)
