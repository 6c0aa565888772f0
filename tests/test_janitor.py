"""The janitor against the real stack: orphan objects go once past the grace period, uploads
in flight and live recordings stay, and rows without their object are reported before they
are removed, across page boundaries of the bucket listing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from factories import insert_recordings, make_tenant
from recstore.retention import deletion as retention
from recstore.retention import janitor
from recstore.services import Services

LATER = timedelta(hours=2)  # past the default one-hour grace


async def put(svc: Services, key: str) -> None:
    async def body() -> Any:
        yield b"orphan bytes"

    await svc.store.put_stream(key, body())


async def actions(svc: Services, action: str) -> list[UUID]:
    rows = await svc.pool.fetch("SELECT recording_id FROM audit_log WHERE action = $1 ORDER BY seq",
                                action)
    return [row["recording_id"] for row in rows]


async def test_orphan_objects_go_after_the_grace_period_uploads_in_flight_stay(
        services: Services) -> None:
    tenant = await make_tenant(services)
    live = await insert_recordings(services, tenant.customer_id, count=2,
                                   recorded_at=datetime.now(UTC))
    orphan = f"recordings/{tenant.customer_id}/{uuid.uuid4()}"
    in_flight = f"recordings/{tenant.customer_id}/{uuid.uuid4()}"
    await put(services, orphan)
    await services.pool.execute(
        "INSERT INTO pending_uploads (object_key, customer_id) VALUES ($1, $2)",
        in_flight, tenant.customer_id)
    await put(services, in_flight)

    now = await janitor.run(services.pool, services.store)
    assert (now.orphans_removed, now.pending_cleared, now.rows_missing_object) == (0, 0, 0)
    assert len(await services.store.list_keys()) == 4

    later = await janitor.run(services.pool, services.store, now=datetime.now(UTC) + LATER)
    # The upload's writer died long ago: its object and pending entry both go.
    assert (later.orphans_removed, later.pending_cleared) == (2, 1)
    assert sorted(await services.store.list_keys()) == sorted(key for _, key in live)
    assert await services.pool.fetchval("SELECT count(*) FROM pending_uploads") == 0
    assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 2


async def test_a_writer_killed_mid_multipart_leaves_no_parts_after_the_grace_period(
        services: Services) -> None:
    import asyncio

    tenant = await make_tenant(services)
    key = f"recordings/{tenant.customer_id}/{uuid.uuid4()}"
    client, bucket = services.store._client, services.store.bucket

    def start_multipart() -> None:  # what put_stream had done when its process was killed
        upload_id = client._create_multipart_upload(bucket, key, {})
        client._upload_part(bucket, key, bytes(5 * 1024 * 1024), None, upload_id, 1)

    def open_uploads() -> int:
        return sum(u.object_name == key
                   for u in client._list_multipart_uploads(bucket, prefix=key).uploads)

    await services.pool.execute(
        "INSERT INTO pending_uploads (object_key, customer_id) VALUES ($1, $2)",
        key, tenant.customer_id)
    await asyncio.to_thread(start_multipart)
    assert await asyncio.to_thread(open_uploads) == 1
    found = await janitor.run(services.pool, services.store, now=datetime.now(UTC) + LATER)
    assert found.pending_cleared == 1
    assert await asyncio.to_thread(open_uploads) == 0


async def test_a_stale_pending_entry_of_a_committed_recording_keeps_its_object(
        services: Services) -> None:
    tenant = await make_tenant(services)
    [(_, key)] = await insert_recordings(services, tenant.customer_id, count=1,
                                         recorded_at=datetime.now(UTC))
    await services.pool.execute(
        "INSERT INTO pending_uploads (object_key, customer_id, started_at)"
        " VALUES ($1, $2, now() - interval '3 hours')", key, tenant.customer_id)
    found = await janitor.run(services.pool, services.store)
    assert (found.pending_cleared, found.orphans_removed) == (1, 0)
    assert await services.store.size_of(key) is not None


async def test_rows_without_object_are_reported_once_and_never_deleted(
        services: Services) -> None:
    """A wrong or empty bucket looks exactly like this; deleting the rows (the only copies
    of the data keys) would turn a configuration slip into permanent loss."""
    tenant = await make_tenant(services)
    kept = await insert_recordings(services, tenant.customer_id, count=3,
                                   recorded_at=datetime.now(UTC))
    lost = await insert_recordings(services, tenant.customer_id, count=2,
                                   recorded_at=datetime.now(UTC), object_every=0)
    lost_ids = sorted(rid for rid, _ in lost)

    first = await janitor.run(services.pool, services.store)
    assert first.rows_missing_object == 2
    marked = await services.pool.fetch(
        "SELECT id FROM recordings WHERE object_missing_since IS NOT NULL ORDER BY id")
    assert [row["id"] for row in marked] == lost_ids
    assert sorted(await actions(services, janitor.MISSING_ACTION)) == lost_ids

    later = await janitor.run(services.pool, services.store, now=datetime.now(UTC) + LATER)
    assert later.rows_missing_object == 2
    assert len(await actions(services, janitor.MISSING_ACTION)) == 2  # reported once
    remaining = await services.pool.fetch("SELECT id FROM recordings ORDER BY id")
    assert [row["id"] for row in remaining] == sorted(rid for rid, _ in [*kept, *lost])


async def test_an_empty_bucket_destroys_nothing(services: Services, settings: Any) -> None:
    """The janitor pointed at the wrong (empty) bucket: every row looks orphaned, none goes,
    and the real bucket's objects are untouched when the configuration is fixed."""
    from recstore.services import object_store_for

    tenant = await make_tenant(services)
    live = await insert_recordings(services, tenant.customer_id, count=3,
                                   recorded_at=datetime.now(UTC))
    wrong = object_store_for(settings.model_copy(update={"s3_bucket": "typo-bucket-empty"}))
    await wrong.ensure_bucket()
    try:
        for at in (datetime.now(UTC), datetime.now(UTC) + LATER):
            found = await janitor.run(services.pool, wrong, now=at)
            assert found.rows_missing_object == 3
        assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 3
        fixed = await janitor.run(services.pool, services.store, now=datetime.now(UTC) + LATER)
        assert fixed.orphans_removed == 0
        for _, key in live:
            assert await services.store.size_of(key) is not None
    finally:
        await wrong._run("drop", wrong._client.remove_bucket, wrong.bucket)


async def test_an_object_that_comes_back_clears_the_mark(services: Services) -> None:
    tenant = await make_tenant(services)
    [(rid, key)] = await insert_recordings(services, tenant.customer_id, count=1,
                                           recorded_at=datetime.now(UTC), object_every=0)
    assert (await janitor.run(services.pool, services.store)).rows_missing_object == 1
    await put(services, key)  # e.g. a replica caught up
    back = await janitor.run(services.pool, services.store, now=datetime.now(UTC) + LATER)
    assert back.rows_missing_object == 0
    assert await services.pool.fetchval(
        "SELECT object_missing_since FROM recordings WHERE id = $1", rid) is None


async def test_recordings_being_deleted_are_not_reported_missing(services: Services) -> None:
    tenant = await make_tenant(services)
    await insert_recordings(services, tenant.customer_id, count=3,
                            recorded_at=datetime.now(UTC) - timedelta(days=91))
    # A scheduler shredded them and deleted the objects, then has not deleted the rows yet.
    claimed = await retention.claim_expired(services.pool, uuid.uuid4(), now=datetime.now(UTC),
                                            limit=10)
    await retention.delete_objects(services.store, claimed)
    found = await janitor.run(services.pool, services.store, now=datetime.now(UTC) + LATER)
    assert found.rows_missing_object == 0
    assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 3


async def test_listing_and_rows_are_matched_across_many_pages(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(janitor, "PAGE", 3)
    first, second = await make_tenant(services), await make_tenant(services, "Second AB")
    kept = await insert_recordings(services, first.customer_id, count=7,
                                   recorded_at=datetime.now(UTC))
    kept += await insert_recordings(services, second.customer_id, count=5,
                                    recorded_at=datetime.now(UTC))
    lost = await insert_recordings(services, first.customer_id, count=4,
                                   recorded_at=datetime.now(UTC), object_every=0)
    lost += await insert_recordings(services, second.customer_id, count=3,
                                    recorded_at=datetime.now(UTC), object_every=0)
    orphans = [f"recordings/{owner}/{uuid.uuid4()}"
               for owner in (first.customer_id, second.customer_id, uuid.uuid4())]
    for key in orphans:
        await put(services, key)

    dry = await janitor.run(services.pool, services.store, now=datetime.now(UTC) + LATER,
                            dry_run=True)
    assert (dry.orphans_removed, dry.rows_missing_object, dry.listing_ordered) == (3, 7, True)
    assert len(await services.store.list_keys()) == 15  # a dry run changes nothing
    assert await services.pool.fetchval(
        "SELECT count(*) FROM recordings WHERE object_missing_since IS NOT NULL") == 0

    found = await janitor.run(services.pool, services.store, now=datetime.now(UTC) + LATER)
    assert (found.orphans_removed, found.rows_missing_object) == (3, 7)
    assert sorted(await services.store.list_keys()) == sorted(key for _, key in kept)
    assert sorted(await actions(services, janitor.MISSING_ACTION)) == sorted(r for r, _ in lost)


async def test_an_upload_slower_than_the_grace_period_is_never_committed_without_its_object(
        services: Services) -> None:
    """A writer still alive when the janitor takes its pending entry for a dead one's (fault
    campaign: an upload stalled by S3 outlived the grace): the janitor removes the object,
    and the writer's commit must then fail rather than leave a row whose audio is gone."""
    from factories import wav
    from recstore.object_store import ObjectStoreError
    from recstore.recordings.store import IncomingRecording, store_recording

    tenant = await make_tenant(services)
    swept: list[janitor.JanitorReport] = []

    async def janitor_runs_now(_sha256: bytes) -> None:  # object stored, row not yet written
        swept.append(await janitor.run(services.pool, services.store,
                                       now=datetime.now(UTC) + LATER))

    async def body() -> Any:
        yield wav(0.5)

    with pytest.raises(ObjectStoreError):
        await store_recording(services.pool, services.store, services.keys,
                              IncomingRecording(tenant.customer_id, "upload"), body(),
                              max_bytes=10_000_000, before_commit=janitor_runs_now)
    assert (swept[0].pending_cleared, swept[0].orphans_removed) == (1, 1)
    assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 0
    assert await services.pool.fetchval("SELECT count(*) FROM pending_uploads") == 0
    assert await services.store.list_keys("recordings/") == []
