"""The fetch queue on the real database: leases with SKIP LOCKED, fencing, backoff, provider
outages ending in success or the dead letter, personal fields dropped, and the jobs CLI."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from provider_fakes import (
    CALLER,
    FakeProvider,
    configure,
    fast_settings,
    job_rows,
    post_twilio,
    run_worker,
    start_fake,
    twilio_status_params,
)

from crypto import CryptoError
from factories import Tenant, wav
from ingest.worker import Worker, backoff_seconds
from recstore.jobs import queue as jobs
from recstore.services import Services

AUDIO = wav(0.5)


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeProvider:
    return await start_fake(aiohttp_server, AUDIO)


@pytest.fixture
async def queued(client: Any, services: Services, tenant: Tenant, fake: FakeProvider) -> Any:
    await configure(services, tenant.customer_id, "twilio", api_base=fake.base)
    response = await post_twilio(client, tenant.customer_id,
                                 twilio_status_params(fake.base, 1, From=CALLER))
    assert response.status == 204
    [job] = await job_rows(services)
    return job


async def _enqueue(services: Services, customer_id: Any, n: int) -> None:
    for i in range(n):
        await jobs.enqueue(services.pool, services.keys, customer_id=customer_id,
                           provider="twilio", provider_recording_id=f"RE{i:032x}",
                           public={"kind": "call"}, private={"caller_number": CALLER})


async def test_concurrent_claims_never_share_a_job(services: Services, tenant: Tenant) -> None:
    await _enqueue(services, tenant.customer_id, 30)
    claims = await asyncio.gather(*(jobs.claim(services.pool, uuid.uuid4(), limit=4,
                                               lease_seconds=30) for _ in range(10)))
    ids = [job.id for claim in claims for job in claim]
    assert len(ids) == len(set(ids)) == 30
    assert await jobs.claim(services.pool, uuid.uuid4(), limit=4, lease_seconds=30) == []


async def test_concurrent_enqueues_each_learn_their_own_outcome(
        services: Services, tenant: Tenant) -> None:
    async def one(i: int) -> bool:
        return await jobs.enqueue(services.pool, services.keys, customer_id=tenant.customer_id,
                                  provider="twilio", provider_recording_id=f"RE{i % 60:032x}",
                                  public={"kind": "call"}, private={})

    results = await asyncio.gather(*(one(i) for i in range(180)))  # 3 deliveries of each
    assert sum(results) == 60
    assert [sum(results[i::60]) for i in range(60)] == [1] * 60  # one winner per recording
    assert await services.pool.fetchval("SELECT count(*) FROM ingest_jobs") == 60


async def test_enqueue_fails_loudly_instead_of_hanging_when_the_database_is_gone(
        services: Services, tenant: Tenant) -> None:
    from recstore.db import create_pool

    pool = await create_pool(services.settings.database_url.get_secret_value(), max_size=1)
    await pool.close()
    with pytest.raises(Exception, match=r"closed|closing"):
        await asyncio.wait_for(asyncio.gather(*(jobs.enqueue(
            pool, services.keys, customer_id=tenant.customer_id, provider="twilio",
            provider_recording_id=f"RE{i:032x}", public={}, private={}) for i in range(5))), 5)


async def _lapse_leases(services: Services) -> None:
    """What time does to a dead worker's lease, without waiting for it."""
    await services.pool.execute(
        "UPDATE ingest_jobs SET lease_until = now() - interval '1 s',"
        " run_after = now() - interval '1 s' WHERE status = 'running'")


async def test_an_expired_lease_comes_back_and_the_old_holder_is_fenced_off(
        services: Services, tenant: Tenant) -> None:
    await _enqueue(services, tenant.customer_id, 1)
    first, second = uuid.uuid4(), uuid.uuid4()
    [job] = await jobs.claim(services.pool, first, limit=1, lease_seconds=30)
    assert await jobs.claim(services.pool, second, limit=1, lease_seconds=30) == []
    # The holder dies: its lease runs out (moved into the past, not waited for, so a slow
    # machine can neither lapse the lease early nor make the test wait).
    await _lapse_leases(services)
    [again] = await jobs.claim(services.pool, second, limit=1, lease_seconds=30)
    assert (again.id, again.attempts) == (job.id, 2)
    assert not await jobs.renew(services.pool, job.id, first, 30)
    assert not await jobs.complete(services.pool, job.id, first, uuid.uuid4())
    assert not await jobs.fail(services.pool, job.id, first, "late", retry_in=None)
    assert await jobs.complete(services.pool, job.id, second, uuid.uuid4())


async def test_a_job_whose_leases_keep_expiring_ends_dead(
        services: Services, tenant: Tenant) -> None:
    await _enqueue(services, tenant.customer_id, 1)
    worker = Worker(services, fast_settings(max_attempts=2))
    for _ in range(2):  # two workers die holding it
        await jobs.claim(services.pool, uuid.uuid4(), limit=1, lease_seconds=30)
        await _lapse_leases(services)
    [job] = await jobs.claim(services.pool, worker.id, limit=1, lease_seconds=30)
    assert await worker.process(job) == "dead"
    [row] = await job_rows(services)
    assert row["status"] == "dead" and "gave up after 2 attempts" in row["last_error"]


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    settings = fast_settings(backoff_base_seconds=10, backoff_max_seconds=100)
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (12, 100)]:
        delays = {backoff_seconds(attempt, settings) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


async def test_provider_outage_is_retried_until_it_succeeds(
        services: Services, queued: Any, fake: FakeProvider) -> None:
    fake.fail_next = [503, 500]
    await run_worker(services, max_attempts=5)
    [job] = await job_rows(services)
    assert (job["status"], job["attempts"], job["last_error"]) == ("done", 3, None)
    assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 1
    outcomes = services.metrics.ingest_job_outcomes
    assert outcomes.labels("twilio", "retry")._value.get() == 2
    assert outcomes.labels("twilio", "done")._value.get() == 1


async def test_a_lasting_outage_ends_in_the_dead_letter_with_no_personal_data(
        services: Services, queued: Any, fake: FakeProvider) -> None:
    fake.fail_next = [500] * 10
    await run_worker(services, max_attempts=3)
    [job] = await job_rows(services)
    assert (job["status"], job["attempts"]) == ("dead", 3)
    assert job["last_error"] == "fetching the audio: the provider answered HTTP 500"
    assert job["sealed"] is not None  # kept for an operator's retry
    assert CALLER not in json.dumps(dict(job), default=str)
    assert await services.store.list_keys() == []
    assert services.metrics.ingest_rejected.labels("twilio", "IngestFailure")._value.get() == 1

    fake.fail_next = []
    retried = await jobs.retry(services.pool, job["id"])
    assert (retried["status"], retried["attempts"]) == ("queued", 0)
    await run_worker(services)
    [job] = await job_rows(services)
    assert job["status"] == "done" and job["sealed"] is None
    row = await services.pool.fetchrow("SELECT caller_index FROM recordings")
    assert row["caller_index"] is not None  # the wrapped caller number survived the dead letter


async def test_a_provider_that_hangs_times_out_and_is_retried(
        services: Services, queued: Any, fake: FakeProvider) -> None:
    fake.hang_seconds = 1.0
    await run_worker(services, max_attempts=2, read_timeout_seconds=0.2)
    [job] = await job_rows(services)
    assert (job["status"], job["attempts"]) == ("dead", 2)
    assert job["last_error"].startswith("could not reach the provider")


async def test_personal_fields_are_wrapped_and_dropped_when_done(
        services: Services, queued: Any) -> None:
    assert CALLER.encode() not in bytes(queued["sealed"])
    assert CALLER not in queued["payload"]
    job = jobs.Job(queued["id"], queued["customer_id"], "twilio", "x", {}, bytes(queued["sealed"]), 1)
    assert jobs.open_private(services.keys, job)["caller_number"] == CALLER
    other = jobs.Job(uuid.uuid4(), queued["customer_id"], "twilio", "x", {},
                     bytes(queued["sealed"]), 1)
    with pytest.raises(CryptoError):  # bound to its job: not openable as another job's
        jobs.open_private(services.keys, other)
    await run_worker(services)
    [done] = await job_rows(services)
    assert done["sealed"] is None


async def test_finished_jobs_are_purged_after_the_retention_limit(
        services: Services, queued: Any) -> None:
    await run_worker(services)
    assert await jobs.purge_finished(services.pool, older_than_days=90) == 0
    await services.pool.execute("UPDATE ingest_jobs SET finished_at = now() - interval '91 days'")
    assert await jobs.purge_finished(services.pool, older_than_days=90) == 1


async def test_a_retried_dead_job_is_purged_by_the_age_of_its_delivery(
        services: Services, queued: Any) -> None:
    """A retry yesterday of a delivery from 91 days ago does not keep caller data longer."""
    await run_worker(services)
    await services.pool.execute("UPDATE ingest_jobs SET status = 'dead', finished_at = now()"
                                " - interval '1 day', created_at = now() - interval '91 days'")
    assert await jobs.purge_finished(services.pool, older_than_days=90) == 1


async def test_worker_loop_runs_and_stops_cleanly(
        services: Services, queued: Any) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(services, fast_settings(poll_seconds=0.05)).run(stop))
    for _ in range(100):
        if (await job_rows(services))[0]["status"] == "done":
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert (await job_rows(services))[0]["status"] == "done"
    gauge = services.metrics.ingest_jobs  # set by the loop's first housekeeping pass
    assert sum(gauge.labels(status)._value.get() for status in jobs.STATUSES) == 1


# -- CLI --------------------------------------------------------------------------------------

def _cli(settings: Any, *argv: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "RECSTORE_DATABASE_URL": settings.database_url.get_secret_value(),
           "RECSTORE_S3_ENDPOINT": settings.s3_endpoint,
           "RECSTORE_S3_ACCESS_KEY": settings.s3_access_key.get_secret_value(),
           "RECSTORE_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
           "RECSTORE_S3_BUCKET": settings.s3_bucket,
           "RECSTORE_MASTER_KEYS": settings.master_keys.get_secret_value(),
           "RECSTORE_INGEST_KEYS": settings.ingest_keys_text() or "",
           "RECSTORE_STAFF_KEY_FILE": str(settings.staff_key_file),
           "RECSTORE_EPOCH_KEYS_FILE": str(settings.epoch_keys_file),
           "RECSTORE_JWT_PRIVATE_KEY_FILE": str(settings.jwt_private_key_file),
           "RECSTORE_PUBLIC_BASE_URL": "https://recstore.example"}
    done = subprocess.run([str(Path(sys.executable).parent / "recstore"), *argv], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, done.stdout, done.stderr


async def test_cli_set_provider_lists_and_retries(
        services: Services, tenant: Tenant, fake: FakeProvider) -> None:
    settings = services.settings
    code, out, err = await asyncio.to_thread(
        _cli, settings, "customer", "set-provider", str(tenant.customer_id), "46elks",
        "--username", "u1", "--password", "p-secret", "--api-base", fake.base, "--json")
    assert code == 0, err
    result = json.loads(out)
    recordcall = result["webhook_urls"]["recordcall"]
    assert recordcall.startswith(f"https://recstore.example/webhooks/46elks/{tenant.customer_id}"
                                 "?token=")
    assert "p-secret" not in out and result["api_base"] == fake.base

    await _enqueue(services, tenant.customer_id, 2)
    [job] = await jobs.claim(services.pool, uuid.uuid4(), limit=1, lease_seconds=30)
    await services.pool.execute("UPDATE ingest_jobs SET status = 'dead', last_error = 'x'"
                                " WHERE id = $1", job.id)
    code, out, err = await asyncio.to_thread(_cli, settings, "jobs", "list", "--status", "dead",
                                             "--json")
    assert code == 0, err
    [listed] = json.loads(out)["jobs"]
    assert (listed["id"], listed["status"], listed["last_error"]) == (str(job.id), "dead", "x")
    assert CALLER not in out

    code, out, _ = await asyncio.to_thread(_cli, settings, "jobs", "retry", str(job.id), "--json")
    assert code == 0 and json.loads(out)["status"] == "queued"
    code, _, err = await asyncio.to_thread(_cli, settings, "jobs", "retry", str(uuid.uuid4()))
    assert code == 1 and "no such job" in err
    code, _, err = await asyncio.to_thread(
        _cli, settings, "customer", "set-provider", str(uuid.uuid4()), "twilio",
        "--account-sid", "AC" + "0" * 32, "--auth-token", "t")
    assert code == 1
