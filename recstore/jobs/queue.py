"""The durable fetch queue in PostgreSQL: enqueue once, lease with SKIP LOCKED, finish or retry.

A job is claimable while it is `queued` and due, or `running` with an expired lease (its
worker died): claiming pushes `run_after` to the end of the lease, so one partial index
serves both. Completion, renewal and failure are fenced on the lease owner, so a worker
that lost its lease cannot overwrite the outcome of the worker that took over.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from recstore.db import Pool
from recstore.errors import Conflict, NotFound
from recstore.jobs.batch import JobRow, batcher_for
from recstore.keys import KeyService

STATUSES = ("queued", "running", "done", "dead")


@dataclass(frozen=True)
class Job:
    id: UUID
    customer_id: UUID
    provider: str
    provider_recording_id: str
    payload: dict[str, Any]   # operational fields only
    sealed: bytes | None      # wrapped personal fields; None once done
    attempts: int             # including the current one, once claimed


def _purpose(job_id: UUID) -> str:
    return f"job-personal {job_id}"


def _job(row: asyncpg.Record) -> Job:
    return Job(row["id"], row["customer_id"], row["provider"], row["provider_recording_id"],
               json.loads(row["payload"]), bytes(row["sealed"]) if row["sealed"] else None,
               row["attempts"])


def open_private(keys: KeyService, job: Job) -> dict[str, Any]:
    if job.sealed is None:
        return {}
    fields: dict[str, Any] = json.loads(keys.unwrap_secret(job.customer_id, _purpose(job.id),
                                                           job.sealed))
    return fields


async def enqueue(pool: Pool, keys: KeyService, *, customer_id: UUID, provider: str,
                  provider_recording_id: str, public: dict[str, Any],
                  private: dict[str, Any]) -> bool:
    """Insert the job unless this recording already has one; True when it was inserted."""
    job_id = uuid.uuid4()
    sealed = keys.wrap_secret(customer_id, _purpose(job_id), json.dumps(private).encode())
    return await batcher_for(pool).insert(JobRow(job_id, customer_id, provider,
                                                 provider_recording_id, json.dumps(public), sealed))


async def claim(pool: Pool, worker_id: UUID, *, limit: int, lease_seconds: float) -> list[Job]:
    rows = await pool.fetch(
        "WITH picked AS (SELECT id FROM ingest_jobs"
        "  WHERE status IN ('queued', 'running') AND run_after <= now()"
        "  ORDER BY run_after LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " UPDATE ingest_jobs j SET status = 'running', attempts = j.attempts + 1,"
        "  lease_owner = $2, lease_until = now() + make_interval(secs => $3),"
        "  run_after = now() + make_interval(secs => $3), updated_at = now()"
        " FROM picked WHERE j.id = picked.id RETURNING j.id, j.customer_id, j.provider,"
        " j.provider_recording_id, j.payload, j.sealed, j.attempts",
        limit, worker_id, lease_seconds)
    return [_job(row) for row in rows]


async def renew(pool: Pool, job_id: UUID, worker_id: UUID, lease_seconds: float) -> bool:
    result: str = await pool.execute(
        "UPDATE ingest_jobs SET lease_until = now() + make_interval(secs => $3),"
        " run_after = now() + make_interval(secs => $3), updated_at = now()"
        " WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        job_id, worker_id, lease_seconds)
    return result.endswith(" 1")


async def complete(pool: Pool, job_id: UUID, worker_id: UUID, recording_id: UUID) -> bool:
    """Done: the personal fields are dropped with the lease."""
    result: str = await pool.execute(
        "UPDATE ingest_jobs SET status = 'done', recording_id = $3, sealed = NULL,"
        " last_error = NULL, lease_owner = NULL, lease_until = NULL, finished_at = now(),"
        " updated_at = now() WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        job_id, worker_id, recording_id)
    return result.endswith(" 1")


async def fail(pool: Pool, job_id: UUID, worker_id: UUID, error: str, *,
               retry_in: float | None) -> bool:
    """Back to the queue after `retry_in` seconds, or dead when it is None. `error` must hold
    no personal data: it is shown to operators and staff."""
    result: str = await pool.execute(
        "UPDATE ingest_jobs SET status = CASE WHEN $4::float8 IS NULL THEN 'dead' ELSE 'queued' END,"
        " run_after = now() + make_interval(secs => coalesce($4::float8, 0)), last_error = $3,"
        " lease_owner = NULL, lease_until = NULL, updated_at = now(),"
        " finished_at = CASE WHEN $4::float8 IS NULL THEN now() END"
        " WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        job_id, worker_id, error[:500], retry_in)
    return result.endswith(" 1")


async def release(pool: Pool, job_id: UUID, worker_id: UUID) -> None:
    """Give a job back untried (graceful shutdown): due now, the attempt not counted."""
    await pool.execute(
        "UPDATE ingest_jobs SET status = 'queued', run_after = now(), attempts = attempts - 1,"
        " lease_owner = NULL, lease_until = NULL, updated_at = now()"
        " WHERE id = $1 AND lease_owner = $2 AND status = 'running'", job_id, worker_id)


async def list_jobs(pool: Pool, *, status: str | None = None, limit: int = 100
                    ) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, customer_id, provider, provider_recording_id, status, attempts, run_after,"
        " last_error, recording_id, created_at, updated_at, finished_at FROM ingest_jobs"
        " WHERE $1::text IS NULL OR status = $1"
        " ORDER BY created_at DESC, id LIMIT $2", status, limit)
    return [dict(row) for row in rows]


async def retry(pool: Pool, job_id: UUID) -> dict[str, Any]:
    """An operator's replay of a dead (or waiting) job: due now, with a fresh attempt budget."""
    row = await pool.fetchrow(
        "UPDATE ingest_jobs SET status = 'queued', attempts = 0, run_after = now(),"
        " finished_at = NULL, updated_at = now() WHERE id = $1 AND status IN ('dead', 'queued')"
        " RETURNING id, customer_id, provider, provider_recording_id, status, attempts,"
        " run_after, last_error, recording_id, created_at, updated_at, finished_at", job_id)
    if row is not None:
        return dict(row)
    status = await pool.fetchval("SELECT status FROM ingest_jobs WHERE id = $1", job_id)
    if status is None:
        raise NotFound("no such job")
    raise Conflict(f"the job is {status}; only dead or queued jobs can be retried")


async def status_counts(pool: Pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT status, count(*) AS n FROM ingest_jobs GROUP BY status")
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


async def purge_finished(pool: Pool, *, older_than_days: int) -> int:
    """Finished jobs past the longest retention: a dead job's wrapped personal fields must not
    outlive the recordings they describe. Counted from the delivery (the call is older still),
    so an operator's retry of a dead job does not restart the clock."""
    result: str = await pool.execute(
        "DELETE FROM ingest_jobs WHERE status IN ('done', 'dead')"
        " AND least(finished_at, created_at) < now() - make_interval(days => $1)",
        older_than_days)
    return int(result.split()[-1])
