"""Retention against the real stack: expiry policy, the first pass after expiry removes key,
object and row (with an ids-only audit entry), live recordings stay, retention changes move
expiries at once, and the database itself enforces the 90-day cap."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from factories import Tenant, bearer, insert_recordings, login, make_tenant, upload, wav
from recstore.errors import Invalid, NotFound, Unavailable
from recstore.object_store import ObjectStore
from recstore.retention import deletion as retention
from recstore.retention.policy import (
    apply_retention_days,
    epoch_closes_at,
    epoch_destroy_after,
    epoch_end,
    expires_at,
)
from recstore.services import Services


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def stored(client: Any, tenant: Tenant, recorded_at: datetime) -> UUID:
    # A distinct body each time: identical signed requests are deduplicated.
    response = await upload(client, tenant, wav(0.5, 300 + recorded_at.timestamp() % 500),
                            **{"X-Recstore-Recorded-At": rfc3339(recorded_at),
                               "X-Recstore-Caller": "+46701234567"})
    assert response.status == 201, await response.text()
    return UUID((await response.json())["id"])


async def row_of(svc: Services, recording_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await svc.pool.fetchrow(
        "SELECT * FROM recordings WHERE id = $1", recording_id)
    return row


def test_expiry_is_capped_at_90_days_and_epochs_close_after_their_last_expiry() -> None:
    at = datetime(2026, 1, 31, 23, 59, tzinfo=UTC)
    assert expires_at(at, 30) == at + timedelta(days=30)
    assert expires_at(at, 365) == at + timedelta(days=90)
    assert epoch_end("2026-12") == datetime(2027, 1, 1, tzinfo=UTC)
    # The last instant of January expires before January's epoch closes.
    assert expires_at(at, 90) < epoch_closes_at("2026-01") == datetime(2026, 5, 2, tzinfo=UTC)
    assert epoch_destroy_after("2026-01") == epoch_closes_at("2026-01")  # no grace by default
    assert epoch_destroy_after("2026-01", timedelta(days=1)) == datetime(2026, 5, 3, tzinfo=UTC)
    # Weekly epochs: Monday 00:00 UTC to Monday; closed 90 days after the week ends.
    assert epoch_end("2026-W49") == datetime(2026, 12, 7, tzinfo=UTC)
    assert epoch_closes_at("2026-W49") == datetime(2026, 12, 7, tzinfo=UTC) + timedelta(days=90)
    for bad in ("2026-13", "2026-W54", "2025-W53"):  # 2025 has 52 ISO weeks
        with pytest.raises(ValueError):
            epoch_end(bad)


async def test_first_pass_after_expiry_removes_key_object_and_row_live_ones_stay(
        client: Any, services: Services) -> None:
    short = await make_tenant(services, "Short AB", retention_days=1)
    other = await make_tenant(services, "Other AB")
    now = datetime.now(UTC)
    doomed = await stored(client, short, now - timedelta(days=1) + timedelta(minutes=5))
    young = await stored(client, short, now)
    foreign = await stored(client, other, now - timedelta(days=80))
    doomed_row = await row_of(services, doomed)
    assert doomed_row is not None
    expiry = doomed_row["expires_at"]

    before = await retention.run_pass(services.pool, services.store,
                                      now=expiry - timedelta(seconds=1))
    assert before.deleted == 0 and await row_of(services, doomed) is not None

    result = await retention.run_pass(services.pool, services.store,
                                      now=expiry + timedelta(seconds=1))
    assert (result.deleted, result.failed) == (1, 0)
    assert await row_of(services, doomed) is None
    keys = await services.store.list_keys()
    assert not any(str(doomed) in key for key in keys)
    assert len(keys) == 2
    entries = await services.pool.fetch(
        "SELECT * FROM audit_log WHERE recording_id = $1 AND action = 'recording.expired'", doomed)
    assert len(entries) == 1
    assert (entries[0]["actor_type"], entries[0]["actor_id"]) == ("system", None)

    token = await login(client, short.user_email)
    gone = await client.get(f"/api/v1/recordings/{doomed}", headers=bearer(token))
    assert gone.status == 404
    live = await client.get(f"/api/v1/recordings/{young}/audio", headers=bearer(token))
    assert live.status == 200 and (await live.read())[:4] == b"RIFF"
    assert await row_of(services, foreign) is not None


async def test_dry_run_counts_and_changes_nothing(services: Services) -> None:
    tenant = await make_tenant(services)
    past = datetime.now(UTC) - timedelta(days=91)
    await insert_recordings(services, tenant.customer_id, count=3, recorded_at=past)
    result = await retention.run_pass(services.pool, services.store, dry_run=True)
    assert result.as_dict() == {"deleted": 0, "failed": 0, "batches": 0, "dry_run": True,
                                "would_delete": 3, "errors": []}
    assert await services.pool.fetchval(
        "SELECT count(*) FROM recordings WHERE shredded_at IS NULL") == 3
    assert len(await services.store.list_keys()) == 3


async def test_shortening_retention_moves_expiry_at_once_and_the_next_pass_deletes(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    other = await make_tenant(services, "Other AB")
    now = datetime.now(UTC)
    old = await stored(client, tenant, now - timedelta(days=10))
    new = await stored(client, tenant, now - timedelta(hours=1))
    untouched = await stored(client, other, now - timedelta(days=10))

    async with services.pool.acquire() as conn:
        change = await apply_retention_days(conn, tenant.customer_id, 7)
    assert (change.retention_days, change.recordings_moved, change.now_expired) == (7, 2, 1)
    assert await services.pool.fetchval(
        "SELECT retention_days FROM customers WHERE id = $1", tenant.customer_id) == 7
    new_row, other_row = await row_of(services, new), await row_of(services, untouched)
    assert new_row is not None and other_row is not None
    assert new_row["expires_at"] == new_row["recorded_at"] + timedelta(days=7)
    assert other_row["expires_at"] == other_row["recorded_at"] + timedelta(days=90)

    result = await retention.run_pass(services.pool, services.store)
    assert result.deleted == 1
    assert await row_of(services, old) is None and await row_of(services, new) is not None

    # Lengthening again extends what is live, and never brings back what expired.
    async with services.pool.acquire() as conn:
        longer = await apply_retention_days(conn, tenant.customer_id, 90)
    assert longer.recordings_moved == 1
    new_row = await row_of(services, new)
    assert new_row is not None
    assert new_row["expires_at"] == new_row["recorded_at"] + timedelta(days=90)


@pytest.mark.parametrize("days", [0, 91, -1])
async def test_retention_outside_1_to_90_days_is_refused(services: Services, days: int) -> None:
    tenant = await make_tenant(services)
    async with services.pool.acquire() as conn:
        with pytest.raises(Invalid):
            await apply_retention_days(conn, tenant.customer_id, days)
    assert await services.pool.fetchval(
        "SELECT retention_days FROM customers WHERE id = $1", tenant.customer_id) == 90


async def test_retention_of_an_unknown_or_erased_customer_is_not_found(services: Services) -> None:
    tenant = await make_tenant(services)
    await services.pool.execute("UPDATE customers SET erased_at = now() WHERE id = $1",
                                tenant.customer_id)
    async with services.pool.acquire() as conn:
        for customer_id in (tenant.customer_id, UUID("00000000-0000-4000-8000-000000000000")):
            with pytest.raises(NotFound):
                await apply_retention_days(conn, customer_id, 5)


async def test_database_caps_expiry_by_the_customers_retention_and_90_days(
        services: Services) -> None:
    tenant = await make_tenant(services, retention_days=7)
    at = datetime.now(UTC) - timedelta(days=1)
    # A writer that computed the expiry before the customer shortened retention.
    [(rid, _)] = await insert_recordings(services, tenant.customer_id, count=1, recorded_at=at,
                                         expires_at=at + timedelta(days=90), object_every=0)
    assert await services.pool.fetchval(
        "SELECT expires_at FROM recordings WHERE id = $1", rid) == at + timedelta(days=7)
    with pytest.raises(asyncpg.CheckViolationError):
        await services.pool.execute(
            "UPDATE recordings SET expires_at = recorded_at + interval '91 days' WHERE id = $1", rid)


async def test_explicit_deletion_is_audited_with_its_actor(services: Services) -> None:
    tenant = await make_tenant(services)
    [(rid, key)] = await insert_recordings(services, tenant.customer_id, count=1,
                                           recorded_at=datetime.now(UTC))
    rows = [{"id": rid}]
    deleted = await retention.delete_recordings(services.pool, services.store, rows,
                                                "recording.deleted", "customer", tenant.admin_id)
    assert deleted == 1 and await row_of(services, rid) is None
    assert await services.store.size_of(key) is None
    entry = await services.pool.fetchrow("SELECT * FROM audit_log WHERE recording_id = $1", rid)
    assert (entry["action"], entry["actor_type"], entry["actor_id"]) == (
        "recording.deleted", "customer", tenant.admin_id)


async def test_explicit_deletion_when_the_store_fails_is_finished_by_the_scheduler(
        services: Services, settings: Any) -> None:
    tenant = await make_tenant(services)
    [(rid, key)] = await insert_recordings(services, tenant.customer_id, count=1,
                                           recorded_at=datetime.now(UTC))
    broken = ObjectStore(settings.s3_endpoint, settings.s3_access_key.get_secret_value(),
                         settings.s3_secret_key.get_secret_value(), "no-such-bucket-here",
                         settings.s3_region)
    with pytest.raises(Unavailable):
        await retention.delete_recordings(services.pool, broken, [{"id": rid}],
                                          "recording.deleted", "customer", tenant.admin_id)
    row = await row_of(services, rid)
    assert row is not None
    assert bytes(row["sealed_data_key"]) == b"" and row["caller_index"] is None  # shredded
    assert row["expires_at"] <= datetime.now(UTC)  # due for the scheduler
    assert row["deletion_attempts"] == 1 and "NoSuchBucket" in row["deletion_error"]

    assert (await retention.run_pass(services.pool, services.store)).deleted == 0  # backing off
    await services.pool.execute("UPDATE recordings SET deletion_claimed_until = now()")  # time passes
    later = await retention.run_pass(services.pool, services.store)
    assert later.deleted == 1 and await services.store.size_of(key) is None
    actions = [r["action"] for r in await services.pool.fetch(
        "SELECT action FROM audit_log WHERE recording_id = $1", rid)]
    assert actions == ["recording.deleted"]  # the customer's request, audited once


async def test_in_a_versioned_bucket_every_version_goes(services: Services) -> None:
    from minio.versioningconfig import ENABLED, VersioningConfig

    client = services.store._client
    await asyncio.to_thread(client.set_bucket_versioning, services.store.bucket,
                            VersioningConfig(ENABLED))
    tenant = await make_tenant(services)
    [(_, key)] = await insert_recordings(services, tenant.customer_id, count=1,
                                         recorded_at=datetime.now(UTC) - timedelta(days=91))

    async def body() -> Any:
        yield b"a second version"

    await services.store.put_stream(key, body())

    def versions() -> list[Any]:
        return list(client.list_objects(services.store.bucket, prefix=key, include_version=True))

    assert len(await asyncio.to_thread(versions)) == 2
    assert (await retention.run_pass(services.pool, services.store)).deleted == 1
    assert await asyncio.to_thread(versions) == []


async def test_an_upload_in_flight_while_retention_shortens_gets_the_new_expiry(
        services: Services) -> None:
    from recstore.recordings.store import IncomingRecording, store_recording

    tenant = await make_tenant(services)
    recorded = datetime.now(UTC) - timedelta(days=10)
    body_read, release = asyncio.Event(), asyncio.Event()

    async def wait_for_settings_change(_sha256: bytes) -> None:
        body_read.set()
        await release.wait()

    async def body() -> Any:
        yield wav(0.5)

    upload_task = asyncio.create_task(store_recording(
        services.pool, services.store, services.keys,
        IncomingRecording(tenant.customer_id, "upload", recorded_at=recorded), body(),
        max_bytes=10_000_000, before_commit=wait_for_settings_change))
    waiting = asyncio.ensure_future(body_read.wait())
    await asyncio.wait({upload_task, waiting}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    assert body_read.is_set(), upload_task  # expiry computed under 90 days, row not written
    async with services.pool.acquire() as conn:
        await apply_retention_days(conn, tenant.customer_id, 7)
    release.set()
    stored_recording = await upload_task
    row = await row_of(services, stored_recording.recording_id)
    assert row is not None and row["expires_at"] == recorded + timedelta(days=7)
    assert (await retention.run_pass(services.pool, services.store)).deleted == 1
