"""Real `recstore worker` processes, SIGKILLed at random moments while they ingest 200
Twilio recordings from a fake Twilio on loopback: afterwards every recording is stored
exactly once, intact, and a janitor pass leaves no orphan object in the bucket."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from provider_fakes import configure, post_twilio, recording_sid, start_fake, twilio_status_params

from factories import Tenant, make_tenant, wav
from recstore.retention import janitor
from recstore.services import Services

N = 200
WORKERS = 3
KILLS = 12
# Kills follow progress, not the clock: each lands when the count of finished jobs crosses a
# random mark, so a slow machine gets as many kills as a fast one and is never failed for its
# speed. Only a queue that stops moving fails, with the seed to replay it.
STALL_SECONDS = 120.0
AUDIO = wav(1.5)  # 24 KB: two pieces from the fake, so kills land mid-download too
# Every 5th is over the 1 MiB probe head, with a slow tail: its upload to the bucket is
# still running when the fake sends the last bytes, so kills land between put and commit.
LONG = wav(70)
RECSTORE = str(Path(sys.executable).parent / "recstore")


def _worker_env(settings: Any) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "RECSTORE_DATABASE_URL": settings.database_url.get_secret_value(),
        "RECSTORE_S3_ENDPOINT": settings.s3_endpoint,
        "RECSTORE_S3_ACCESS_KEY": settings.s3_access_key.get_secret_value(),
        "RECSTORE_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
        "RECSTORE_S3_BUCKET": settings.s3_bucket,
        "RECSTORE_MASTER_KEYS": settings.master_keys.get_secret_value(),
        "RECSTORE_INGEST_KEYS": settings.ingest_keys_text() or "",
        "RECSTORE_STAFF_KEY_FILE": str(settings.staff_key_file),
        "RECSTORE_EPOCH_KEYS_FILE": str(settings.epoch_keys_file),
        "RECSTORE_JWT_PRIVATE_KEY_FILE": str(settings.jwt_private_key_file),
        "RECSTORE_LOG_LEVEL": "WARNING",
        "RECSTORE_INGEST_LEASE_SECONDS": "2",
        "RECSTORE_INGEST_CONCURRENCY": "4",
        "RECSTORE_INGEST_POLL_SECONDS": "0.1",
        "RECSTORE_INGEST_BACKOFF_BASE_SECONDS": "0.2",
        "RECSTORE_INGEST_BACKOFF_MAX_SECONDS": "1",
        "RECSTORE_INGEST_MAX_ATTEMPTS": "50",  # kills must never exhaust a job
    }


async def _spawn(env: dict[str, str], log: Any) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(RECSTORE, "worker", env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=log)


async def _status(svc: Services) -> dict[str, int]:
    rows = await svc.pool.fetch("SELECT status, count(*) AS n FROM ingest_jobs GROUP BY status")
    return {row["status"]: row["n"] for row in rows}


async def test_sigkilled_workers_lose_nothing_and_store_everything_once(
        client: Any, services: Services, aiohttp_server: Any, tmp_path: Path) -> None:
    tenant: Tenant = await make_tenant(services)
    fake = await start_fake(aiohttp_server, AUDIO)
    fake.jitter_seconds, fake.media_delay, fake.tail_delay = 0.05, 0.005, 0.03
    fake.audio_for = {recording_sid(n): LONG for n in range(0, N, 5)}
    await configure(services, tenant.customer_id, "twilio", api_base=fake.base)
    for start in range(0, N, 25):
        sent = await asyncio.gather(*(post_twilio(client, tenant.customer_id,
                                                  twilio_status_params(fake.base, n))
                                      for n in range(start, start + 25)))
        assert {r.status for r in sent} == {204}
    assert await _status(services) == {"queued": N}

    seed = random.randrange(2**32)
    rng = random.Random(seed)
    env = _worker_env(services.settings)
    log = (tmp_path / "workers.log").open("wb")
    marks = sorted(rng.sample(range(1, N * 4 // 5), KILLS))  # the last fifth runs unharmed
    procs = [await _spawn(env, log) for _ in range(WORKERS)]
    kills, started = 0, time.monotonic()
    try:
        done, last_done, moved = 0, -1, time.monotonic()
        while done < N:
            done = (await _status(services)).get("done", 0)
            if done != last_done:
                last_done, moved = done, time.monotonic()
            assert time.monotonic() - moved < STALL_SECONDS, (seed, await _status(services))
            if kills < KILLS and done >= marks[kills]:
                victim = rng.randrange(WORKERS)
                procs[victim].kill()  # SIGKILL: no handler, no cleanup
                await procs[victim].wait()
                kills += 1
                procs[victim] = await _spawn(env, log)
            await asyncio.sleep(0.05)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        await asyncio.gather(*(proc.wait() for proc in procs))
        log.close()

    attempts = await services.pool.fetchval("SELECT sum(attempts) FROM ingest_jobs")
    orphans_before = await services.pool.fetchval("SELECT count(*) FROM pending_uploads")
    print(f"seed={seed} kills={kills} attempts={attempts} pending_before_janitor={orphans_before}"
          f" took={time.monotonic() - started:.1f}s")
    assert kills == KILLS
    assert attempts > N  # leases of killed workers expired and their jobs came back

    await janitor.run(services.pool, services.store, grace=timedelta(0))
    rows = await services.pool.fetch("SELECT provider_recording_id, sha256, size_bytes,"
                                     " object_key FROM recordings")
    assert sorted(r["provider_recording_id"] for r in rows) == sorted(
        recording_sid(n) for n in range(N))  # every one, exactly once
    for row in rows:
        audio = fake.audio_for.get(row["provider_recording_id"], AUDIO)
        assert (bytes(row["sha256"]), row["size_bytes"]) == (hashlib.sha256(audio).digest(),
                                                             len(audio))
    # The bucket holds exactly the rows' objects: no orphan survived, no row lost its object.
    assert sorted(await services.store.list_keys()) == sorted(r["object_key"] for r in rows)
    assert await services.pool.fetchval("SELECT count(*) FROM pending_uploads") == 0
    assert await services.pool.fetchval(
        "SELECT count(*) FROM ingest_jobs WHERE status = 'done' AND sealed IS NULL") == N
