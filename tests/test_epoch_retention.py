"""Retention epochs: a month's key material is destroyed once all its recordings are past
retention, so a database backup restored later opens nothing past retention, while newer
recordings still open. No secret is ever (re)created for a month past retention."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from pydantic import SecretStr

from crypto import CryptoError, MasterKeyring, epoch_of, open_data_key, unwrap_private_key
from factories import Tenant, bearer, counts, insert_recordings, login, make_tenant, upload, wav
from recstore.app import create_app
from recstore.custody.provisioning import upcoming_epochs
from recstore.epoch_keys import EpochClosed, EpochKeyStore
from recstore.errors import KeyShredded
from recstore.keys import KeyService
from recstore.retention.epochs import KEY_DESTROYED_ACTION, run_epoch_pass
from recstore.retention.policy import epoch_closes_at, epoch_destroy_after
from recstore.retention.scheduler import RetentionSettings, retention_pass
from recstore.services import Services, open_services
from recstore.settings import Settings

# pg_dump and pg_restore from the pgserver wheel (found without importing it: it warns).
_PGSERVER = importlib.util.find_spec("pgserver")
assert _PGSERVER is not None and _PGSERVER.submodule_search_locations
PG_BIN = Path(_PGSERVER.submodule_search_locations[0]) / "pginstall" / "bin"


@pytest.fixture
def keyring() -> MasterKeyring:
    return MasterKeyring.parse(MasterKeyring.generate_entry("test-1"))


def test_no_secret_is_created_for_a_month_past_retention(tmp_path: Path,
                                                         keyring: MasterKeyring) -> None:
    store = EpochKeyStore(tmp_path / "epochs.json", keyring)
    now = datetime(2026, 6, 15, tzinfo=UTC)
    assert len(store.get_or_create("2026-06", now=now)) == 32
    assert store.get_or_create("2026-03", now=now)  # its recordings may still be live
    with pytest.raises(EpochClosed, match="retention"):
        store.get_or_create("2026-02", now=now)  # closed on 2026-06-01
    assert store.epochs() == ["2026-03", "2026-06"]


def test_destroying_a_month_removes_its_secret_for_good(tmp_path: Path,
                                                        keyring: MasterKeyring) -> None:
    path = tmp_path / "epochs.json"
    store = EpochKeyStore(path, keyring)
    early = datetime(2026, 3, 2, tzinfo=UTC)
    store.get_or_create("2026-02", now=early)
    kept = store.get_or_create("2026-03", now=early)
    wrapped = store._read()["2026-02"]
    other_process = EpochKeyStore(path, keyring)
    assert other_process.get("2026-02") is not None

    assert store.destroy("2026-02") is True
    assert wrapped not in path.read_text()
    assert store.get("2026-02") is None and other_process.get("2026-02") is None
    assert store.get("2026-03") == kept
    assert list(store.destroyed()) == ["2026-02"]
    # The tombstone refuses a new secret even if the clock says the month is still open.
    with pytest.raises(EpochClosed):
        store.get_or_create("2026-02", now=early)
    assert store.destroy("2026-02") is False  # idempotent
    rotated = MasterKeyring.parse(",".join([MasterKeyring.generate_entry("test-0"),
                                            MasterKeyring.generate_entry("test-2")]))
    assert EpochKeyStore(path, keyring).rewrap() == 0
    assert list(EpochKeyStore(path, keyring).destroyed()) == ["2026-02"]
    with pytest.raises(CryptoError):  # a keyring that never wrapped it opens nothing
        EpochKeyStore(path, rotated).get("2026-03")


async def _keyed_rows(svc: Services, tenant: Tenant, epoch: str, recorded_at: datetime,
                      count: int = 2) -> None:
    """Rows of `epoch` under a real customer key (so the month has a real secret)."""
    async with svc.pool.acquire() as conn:
        await svc.keys.public_key(conn, tenant.customer_id, epoch)
    await insert_recordings(svc, tenant.customer_id, count=count, recorded_at=recorded_at,
                            epoch=epoch)


async def test_epoch_pass_destroys_only_due_months_and_drops_their_keys(
        services: Services) -> None:
    tenant = await make_tenant(services)
    old = datetime.now(UTC) - timedelta(days=80)
    month = epoch_of(old)
    await _keyed_rows(services, tenant, month, old)
    current = epoch_of(datetime.now(UTC))
    async with services.pool.acquire() as conn:
        await services.keys.public_key(conn, tenant.customer_id, current)
    due = epoch_destroy_after(month)

    early = await run_epoch_pass(services.pool, services.keys.epochs,
                                 now=due - timedelta(seconds=1))
    assert early.due == [] and services.keys.epochs.get(month) is not None

    # The recordings are gone by then (the retention pass runs first); the month goes.
    await services.pool.execute("DELETE FROM recordings")
    result = await run_epoch_pass(services.pool, services.keys.epochs, now=due)
    assert (result.destroyed, result.blocked, result.keys_removed) == ([month], [], 1)
    assert services.keys.epochs.get(month) is None
    assert services.keys.epochs.get(current) is not None
    kept = set(await services.pool.fetchval("SELECT array_agg(epoch) FROM customer_keys"))
    assert kept == {current, *upcoming_epochs(datetime.now(UTC))}  # provisioned ahead
    assert await services.pool.fetchval("SELECT epoch FROM destroyed_epochs") == month
    actions = await services.pool.fetch("SELECT * FROM audit_log WHERE action = $1",
                                        KEY_DESTROYED_ACTION)
    assert [(a["customer_id"], a["recording_id"]) for a in actions] == [(tenant.customer_id, None)]
    again = await run_epoch_pass(services.pool, services.keys.epochs, now=due)
    assert again.due == [] and again.destroyed == []


async def test_a_month_with_a_live_recording_is_never_destroyed(services: Services) -> None:
    tenant = await make_tenant(services)
    old = datetime.now(UTC) - timedelta(days=80)
    month = epoch_of(old)
    await _keyed_rows(services, tenant, month, old, count=1)
    # Corrupt data: a row filed under the old month, recorded (and expiring) much later.
    late = epoch_destroy_after(month) + timedelta(days=1)
    await services.pool.execute(
        "UPDATE recordings SET recorded_at = $1, expires_at = $2", late, late + timedelta(days=30))
    result = await run_epoch_pass(services.pool, services.keys.epochs,
                                  now=epoch_destroy_after(month) + timedelta(days=2))
    assert (result.due, result.blocked, result.destroyed) == ([month], [month], [])
    assert services.keys.epochs.get(month) is not None


async def test_a_crash_after_destroying_the_secret_is_finished_later(services: Services) -> None:
    tenant = await make_tenant(services)
    old = datetime.now(UTC) - timedelta(days=80)
    month = epoch_of(old)
    await _keyed_rows(services, tenant, month, old, count=1)
    due = epoch_destroy_after(month)
    # The secret is destroyed while recordings remain (the deletions lag behind).
    first = await run_epoch_pass(services.pool, services.keys.epochs, now=due)
    assert (first.destroyed, first.keys_removed) == ([month], 0)
    await services.pool.execute("DELETE FROM destroyed_epochs")  # as if it crashed right there
    await services.pool.execute("DELETE FROM recordings")
    second = await run_epoch_pass(services.pool, services.keys.epochs, now=due)
    assert (second.destroyed, second.keys_removed) == ([], 1)
    assert await services.pool.fetchval("SELECT count(*) FROM destroyed_epochs") == 1
    assert await services.pool.fetchval(
        "SELECT count(*) FROM customer_keys WHERE epoch = $1", month) == 0


def _pg(tool: str, *args: str) -> None:
    subprocess.run([str(PG_BIN / tool), *args], check=True, capture_output=True, timeout=120)


def _database_url(base: str, name: str) -> str:
    head, _, query = base.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


async def _stored(client: Any, tenant: Tenant, recorded_at: datetime, body: bytes) -> UUID:
    response = await upload(client, tenant, body, **{
        "X-Recstore-Recorded-At": recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert response.status == 201, await response.text()
    return UUID((await response.json())["id"])


async def test_a_restored_backup_cannot_open_a_destroyed_month_but_opens_newer_ones(
        client: Any, services: Services, settings: Settings, aiohttp_client: Any,
        tmp_path: Path) -> None:
    tenant = await make_tenant(services)
    now = datetime.now(UTC)
    old_body, new_body = wav(0.5, 330.0), wav(0.5, 550.0)
    old = await _stored(client, tenant, now - timedelta(days=85), old_body)
    new = await _stored(client, tenant, now, new_body)
    old_month = epoch_of(now - timedelta(days=85))
    token = await login(client, tenant.user_email)
    before = await client.get(f"/api/v1/recordings/{old}/audio", headers=bearer(token))
    assert await before.read() == old_body  # the backup below holds a readable recording

    dump = tmp_path / "backup.dump"
    _pg("pg_dump", "--format=custom", f"--file={dump}",
        f"--dbname={settings.migration_database_url()}")
    leaked = tmp_path / "epochs-copy.json"  # what an operator must not keep
    shutil.copy(settings.epoch_keys_file, leaked)

    # The month passes: the recording expires, and later its month's secret is destroyed.
    later = epoch_destroy_after(old_month) + timedelta(seconds=1)
    result = await retention_pass(services, RetentionSettings(), now=later)
    assert (result["deleted"], result["epochs_destroyed"]) == (1, [old_month])

    restored = f"r_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(settings.migration_database_url())
    await admin.execute(f'CREATE DATABASE "{restored}"')
    try:
        restored_url = _database_url(settings.migration_database_url(), restored)
        await asyncio.to_thread(_pg, "pg_restore", "--no-owner", f"--dbname={restored_url}",
                                str(dump))
        backup = settings.model_copy(update={"database_url": SecretStr(restored_url)})
        async with open_services(backup, pool_size=2) as svc:
            row = await svc.pool.fetchrow("SELECT * FROM recordings WHERE id = $1", old)
            assert row is not None and bytes(row["sealed_data_key"])  # the backup kept it
            async with svc.pool.acquire() as conn:
                with pytest.raises(KeyShredded):
                    await svc.keys.keypair(conn, tenant.customer_id, old_month)
                wrapped = bytes(await conn.fetchval(
                    "SELECT wrapped_private_key FROM customer_keys"
                    " WHERE customer_id = $1 AND epoch = $2", tenant.customer_id, old_month))
                # No secret left in the epoch file opens that month's private key.
                for secret in (svc.keys.epochs.get(e) for e in svc.keys.epochs.epochs()):
                    assert secret is not None
                    with pytest.raises(CryptoError):
                        unwrap_private_key(secret, wrapped, customer_id=tenant.customer_id,
                                           epoch=old_month)
                # ...whereas a copy of the file from before the destruction would have.
                copy = KeyService(svc.keys.keyring, EpochKeyStore(leaked, svc.keys.keyring))
                assert open_data_key(await copy.keypair(conn, tenant.customer_id, old_month),
                                     bytes(row["sealed_data_key"]))
            api = await aiohttp_client(create_app(services=svc))
            gone = await api.get(f"/api/v1/recordings/{old}/audio", headers=bearer(token))
            assert gone.status == 404
            fresh = await api.get(f"/api/v1/recordings/{new}/audio", headers=bearer(token))
            assert fresh.status == 200 and await fresh.read() == new_body
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')
        await admin.close()


async def test_a_late_recording_for_a_destroyed_month_is_refused_and_nothing_stored(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    recorded = datetime.now(UTC) - timedelta(days=85)
    month = epoch_of(recorded)
    assert services.keys.epochs.destroy(month) is False  # destroyed (here: before first use)
    assert datetime.now(UTC) < epoch_closes_at(month)  # the clock alone would allow it
    response = await upload(client, tenant, wav(), **{
        "X-Recstore-Recorded-At": recorded.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert response.status == 422
    assert "retention" in (await response.json())["detail"]
    assert await counts(services) == (0, 0)
    assert month not in services.keys.epochs.epochs()
    assert await services.pool.fetchval(
        "SELECT count(*) FROM customer_keys WHERE epoch = $1", month) == 0


async def test_a_malformed_month_name_does_not_stop_the_pass(services: Services) -> None:
    tenant = await make_tenant(services)
    old = datetime.now(UTC) - timedelta(days=80)
    month = epoch_of(old)
    async with services.pool.acquire() as conn:
        await services.keys.public_key(conn, tenant.customer_id, month)
    await services.pool.execute(
        "INSERT INTO customer_keys (customer_id, epoch, public_key, wrapped_private_key)"
        " VALUES ($1, '2026-13', '\\x00', '\\x00')", tenant.customer_id)
    result = await run_epoch_pass(services.pool, services.keys.epochs,
                                  now=epoch_destroy_after(month))
    assert result.destroyed == [month]
    assert await services.pool.fetchval(
        "SELECT count(*) FROM customer_keys WHERE epoch IN ('2026-13', $1)", month) == 1
