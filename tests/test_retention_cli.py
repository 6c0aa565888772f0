"""Retention as operators and monitoring see it: the scheduler `recstore worker`/`up` run,
its metrics, the `recstore retention|janitor` commands, and the lifecycle backstop that
`migrate` sets and `doctor` checks."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from factories import METRICS, insert_recordings, make_tenant
from recstore.bootstrap import LIFECYCLE_BACKSTOP_DAYS, prepare_storage
from recstore.doctor import run_checks
from recstore.retention.policy import MAX_RETENTION_DAYS
from recstore.runner import maintenance_loop
from recstore.services import Services
from recstore.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def recstore(settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "RECSTORE_DATABASE_URL": settings.database_url.get_secret_value(),
           "RECSTORE_S3_ENDPOINT": settings.s3_endpoint,
           "RECSTORE_S3_ACCESS_KEY": settings.s3_access_key.get_secret_value(),
           "RECSTORE_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
           "RECSTORE_S3_BUCKET": settings.s3_bucket,
           "RECSTORE_MASTER_KEYS": settings.master_keys_text(),
           "RECSTORE_INGEST_KEYS": settings.ingest_keys_text() or "",
           "RECSTORE_STAFF_KEY_FILE": str(settings.staff_key_file),
           "RECSTORE_EPOCH_KEYS_FILE": str(settings.epoch_keys_file),
           "RECSTORE_JWT_PRIVATE_KEY_FILE": str(settings.jwt_private_key_file)}
    done = subprocess.run([sys.executable, "-m", "recstore.cli", *args, "--json"], env=env,
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, (done.stdout, done.stderr)  # --json prints exactly one object
    result: dict[str, Any] = json.loads(lines[0])
    return done.returncode, result


async def test_retention_commands_run_report_and_flag_overdue_recordings(
        services: Services, settings: Settings) -> None:
    tenant = await make_tenant(services)
    await insert_recordings(services, tenant.customer_id, count=2,
                            recorded_at=datetime.now(UTC) - timedelta(days=91))
    await insert_recordings(services, tenant.customer_id, count=1,
                            recorded_at=datetime.now(UTC) - timedelta(days=45))

    code, overdue = await asyncio.to_thread(recstore, settings, "retention", "report")
    assert code == 1 and overdue["ok"] is False and overdue["overdue"] == 2
    assert overdue["by_age_days"] == {"0-30": 0, "30-60": 1, "60-90": 0, "90+": 2}
    assert overdue["last_successful_pass"] is None

    code, dry = await asyncio.to_thread(recstore, settings, "retention", "run", "--dry-run")
    assert (code, dry["deleted"], dry["would_delete"], dry["dry_run"]) == (0, 0, 2, True)

    code, ran = await asyncio.to_thread(recstore, settings, "retention", "run")
    assert (code, ran["deleted"], ran["failed"], ran["ok"]) == (0, 2, 0, True)

    code, clean = await asyncio.to_thread(recstore, settings, "retention", "report")
    assert (code, clean["ok"], clean["overdue"], clean["live_recordings"]) == (0, True, 0, 1)
    assert 44 < clean["oldest_live_age_days"] < 46
    assert clean["last_successful_pass"] is not None
    assert clean["passes"]["retention"]["last_result"]["deleted"] == 2

    code, swept = await asyncio.to_thread(recstore, settings, "janitor", "run")
    assert code == 0 and swept["orphans_removed"] == 0 and swept["rows_missing_object"] == 0


def sample(svc: Services, name: str) -> float | None:
    value: float | None = svc.metrics.registry.get_sample_value(name)
    return value


async def test_the_worker_loop_deletes_on_the_first_pass_after_expiry_and_exports_metrics(
        services: Services, client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("RECSTORE_RETENTION_INTERVAL_SECONDS", "0.2")
    tenant = await make_tenant(services)
    expiry = datetime.now(UTC) + timedelta(seconds=2)
    [(soon, _)] = await insert_recordings(services, tenant.customer_id, count=1,
                                          recorded_at=expiry - timedelta(days=MAX_RETENTION_DAYS))
    await insert_recordings(services, tenant.customer_id, count=1,
                            recorded_at=datetime.now(UTC) - timedelta(days=10))
    stop = asyncio.Event()
    loop = asyncio.create_task(maintenance_loop(services, stop))
    try:
        while await services.pool.fetchval("SELECT count(*) FROM recordings WHERE id = $1", soon):
            assert datetime.now(UTC) < expiry + timedelta(seconds=10), "not deleted in time"
            await asyncio.sleep(0.05)
        assert datetime.now(UTC) >= expiry  # and not a moment before its expiry
        await asyncio.sleep(0.5)  # one more round refreshes the gauges
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=10)

    assert sample(services, "recstore_retention_deleted_total") == 1
    assert sample(services, "recstore_retention_overdue_recordings") == 0
    assert (sample(services, "recstore_oldest_recording_age_seconds") or 0) > 9 * 86400
    last = sample(services, "recstore_retention_last_success_timestamp_seconds")
    assert last is not None and abs(last - datetime.now(UTC).timestamp()) < 30
    since = sample(services, "recstore_retention_seconds_since_last_pass")
    assert since is not None and 0 <= since < 30
    assert await services.pool.fetchval(
        "SELECT last_ok FROM retention_passes WHERE task = 'janitor'") is True
    text = await (await client.get("/metrics", headers=METRICS)).text()
    assert "recstore_retention_deleted_total 1.0" in text
    assert str(soon) not in text and str(tenant.customer_id) not in text  # no ids in metrics


async def test_migrate_sets_the_lifecycle_backstop_and_doctor_checks_it(
        services: Services, settings: Settings) -> None:
    await prepare_storage(settings)
    assert LIFECYCLE_BACKSTOP_DAYS > MAX_RETENTION_DAYS
    checks = (await run_checks(settings))["checks"]
    assert checks["lifecycle_backstop"]["ok"] is True
    assert checks["lifecycle_backstop"]["days"] == LIFECYCLE_BACKSTOP_DAYS

    await asyncio.to_thread(services.store._client.delete_bucket_lifecycle, settings.s3_bucket)
    missing = (await run_checks(settings))["checks"]["lifecycle_backstop"]
    assert missing["ok"] is False and missing["days"] is None


async def test_an_api_process_exports_what_the_workers_did(
        services: Services, settings: Settings) -> None:
    import aiohttp

    from recstore.retention.scheduler import RetentionSettings, retention_pass
    from recstore.runner import run_services
    from recstore.services import open_services

    tenant = await make_tenant(services)
    async with open_services(settings, pool_size=2) as worker:  # another process, in effect
        await retention_pass(worker, RetentionSettings())
    await insert_recordings(services, tenant.customer_id, count=1,
                            recorded_at=datetime.now(UTC) - timedelta(days=91), object_every=0)
    stop, ready = asyncio.Event(), asyncio.get_running_loop().create_future()

    async def announce(url: str) -> None:
        ready.set_result(url)

    api = asyncio.create_task(run_services(services, api=True, worker=False, host="127.0.0.1",
                                           port=0, stop=stop, on_ready=announce))
    try:
        url = await asyncio.wait_for(ready, timeout=10)
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                text = await (await http.get(f"{url}/metrics", headers=METRICS)).text()
                if "recstore_retention_overdue_recordings 1.0" in text:
                    break
                await asyncio.sleep(0.05)
        assert "recstore_retention_overdue_recordings 1.0" in text
        last = services.metrics.registry.get_sample_value(
            "recstore_retention_last_success_timestamp_seconds")
        assert last is not None and abs(last - datetime.now(UTC).timestamp()) < 60
        assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 1  # no deleting
    finally:
        stop.set()
        await asyncio.wait_for(api, timeout=10)
