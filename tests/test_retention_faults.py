"""Retention under stress, against the real stack: several schedulers at once, a crash
between any two steps, and an object store that fails mid-pass. The fault injectors below
wrap the real ObjectStore (the real deletes still happen); nothing is mocked."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from minio.deleteobjects import DeleteError, DeleteObject

from factories import insert_recordings, make_tenant
from recstore.object_store import ObjectStore
from recstore.retention import deletion as retention
from recstore.retention.report import report
from recstore.retention.scheduler import RetentionSettings, retention_pass
from recstore.services import Services, open_services
from recstore.settings import Settings

EXPIRED_AT = datetime.now(UTC) - timedelta(days=91)


class FaultyClient:
    """The real minio client, except that the `fail_on`-th object delete reports an error
    (as S3 does per key in a multi-object delete); every other delete really happens."""

    def __init__(self, real: Any, fail_on: int | None, seen: Counter[str]) -> None:
        self._real, self.fail_on, self.seen, self.calls = real, fail_on, seen, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def remove_objects(self, bucket: str, objects: Iterable[DeleteObject]) -> Iterator[DeleteError]:
        keep, errors = [], []
        for obj in objects:
            self.calls += 1
            key = obj.name
            if self.calls == self.fail_on:
                errors.append(DeleteError("SlowDown", "injected", key, None))
            else:
                keep.append(obj)
                self.seen[key] += 1
        return itertools.chain(self._real.remove_objects(bucket, keep), errors)


class FaultyStore(ObjectStore):
    """The real store over a FaultyClient; `bucket` may name one that does not exist."""

    def __init__(self, settings: Settings, *, fail_on: int | None = None,
                 seen: Counter[str] | None = None, bucket: str | None = None) -> None:
        super().__init__(settings.s3_endpoint, settings.s3_access_key.get_secret_value(),
                         settings.s3_secret_key.get_secret_value(),
                         bucket or settings.s3_bucket, settings.s3_region)
        self.seen: Counter[str] = Counter() if seen is None else seen
        self._client = FaultyClient(self._client, fail_on, self.seen)  # type: ignore[assignment]


async def audit_counts(svc: Services) -> Counter[UUID]:
    rows = await svc.pool.fetch("SELECT recording_id FROM audit_log WHERE action = 'recording.expired'")
    return Counter(row["recording_id"] for row in rows)


def metric(svc: Services, name: str, **labels: str) -> float | None:
    value: float | None = svc.metrics.registry.get_sample_value(name, labels)
    return value


async def test_concurrent_schedulers_delete_each_recording_exactly_once(
        services: Services, settings: Settings) -> None:
    tenant = await make_tenant(services)
    other = await make_tenant(services, "Other AB")
    expired = await insert_recordings(services, tenant.customer_id, count=300,
                                      recorded_at=EXPIRED_AT)
    expired += await insert_recordings(services, other.customer_id, count=100,
                                       recorded_at=EXPIRED_AT)
    live = await insert_recordings(services, tenant.customer_id, count=20,
                                   recorded_at=datetime.now(UTC))
    seen: Counter[str] = Counter()

    async def scheduler() -> int:
        async with open_services(settings, pool_size=3) as svc:
            result = await retention.run_pass(svc.pool, FaultyStore(settings, seen=seen),
                                              batch_size=25)
            return result.deleted

    deleted = await asyncio.gather(*(scheduler() for _ in range(4)))
    assert sum(deleted) == 400
    assert sum(1 for n in deleted if n) >= 2  # they really shared the work
    assert set(seen) == {key for _, key in expired} and set(seen.values()) == {1}
    audits = await audit_counts(services)
    assert set(audits) == {rid for rid, _ in expired} and set(audits.values()) == {1}
    assert sorted(await services.store.list_keys()) == sorted(key for _, key in live)


async def test_a_crash_between_any_two_steps_is_finished_by_the_next_pass(
        services: Services) -> None:
    tenant = await make_tenant(services)
    expired = await insert_recordings(services, tenant.customer_id, count=20,
                                      recorded_at=EXPIRED_AT)
    now, lease = datetime.now(UTC), timedelta(minutes=10)  # outlives any stall of the machine

    # Scheduler A dies right after claiming and shredding.
    await retention.claim_expired(services.pool, uuid4(), now=now, limit=10, lease=lease)
    # Scheduler B dies after deleting its objects, before deleting the rows.
    second = await retention.claim_expired(services.pool, uuid4(), now=now, limit=10, lease=lease)
    outcome = await retention.delete_objects(services.store, second)
    assert len(outcome.done) == 10 and not outcome.failed

    rows = await services.pool.fetch("SELECT * FROM recordings")
    assert len(rows) == 20
    assert all(bytes(r["sealed_data_key"]) == b"" and r["shredded_at"] for r in rows)
    assert len(await services.store.list_keys()) == 10  # B's objects are gone already

    # While the dead schedulers' leases last, nobody else touches those rows.
    assert (await retention.run_pass(services.pool, services.store)).deleted == 0
    # Their leases run out (moved into the past rather than waited for).
    await services.pool.execute("UPDATE recordings SET deletion_claimed_until = now() - interval '1 s'"
                                " WHERE deletion_claimed_until IS NOT NULL")
    result = await retention.run_pass(services.pool, services.store)
    assert result.deleted == 20
    assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 0
    assert await services.store.list_keys() == []
    audits = await audit_counts(services)
    assert set(audits) == {rid for rid, _ in expired} and set(audits.values()) == {1}


async def test_a_failing_object_store_leaves_rows_for_a_retry_and_counts_failures(
        services: Services, settings: Settings) -> None:
    tenant = await make_tenant(services)
    expired = await insert_recordings(services, tenant.customer_id, count=30,
                                      recorded_at=EXPIRED_AT)
    tuning = RetentionSettings(batch_size=10, retry_base_seconds=0)
    faulty = dataclasses.replace(services, store=FaultyStore(settings, fail_on=5))

    result = await retention_pass(faulty, tuning)
    assert (result["deleted"], result["failed"], result["ok"]) == (9, 1, False)
    assert result["errors"] == ["delete failed: SlowDown"]
    assert metric(services, "recstore_retention_failures_total", step="object_delete") == 1
    assert metric(services, "recstore_retention_deleted_total") == 9
    remaining = await services.pool.fetch("SELECT * FROM recordings")
    assert len(remaining) == 21  # the failed one, and the batches the pass did not start
    failed = [r for r in remaining if r["deletion_attempts"]]
    assert len(failed) == 1 and failed[0]["deletion_error"] == "delete failed: SlowDown"
    assert not any(r["deletion_claimed_by"] for r in remaining)  # nothing left held
    passes = await services.pool.fetchrow("SELECT * FROM retention_passes WHERE task = 'retention'")
    assert (passes["last_ok"], passes["last_success_at"], passes["failed_runs"]) == (False, None, 1)

    again = await retention_pass(services, tuning)
    assert (again["deleted"], again["failed"], again["ok"]) == (21, 0, True)
    assert await services.store.list_keys() == []
    audits = await audit_counts(services)
    assert set(audits) == {rid for rid, _ in expired} and set(audits.values()) == {1}
    passes = await services.pool.fetchrow("SELECT * FROM retention_passes WHERE task = 'retention'")
    assert passes["last_ok"] is True and passes["last_success_at"] is not None


async def test_a_store_without_the_bucket_deletes_nothing_and_the_rows_wait(
        services: Services, settings: Settings) -> None:
    tenant = await make_tenant(services)
    await insert_recordings(services, tenant.customer_id, count=5, recorded_at=EXPIRED_AT)
    wrong = dataclasses.replace(services, store=FaultyStore(settings, bucket="no-such-bucket-here"))
    tuning = RetentionSettings(retry_base_seconds=0)

    result = await retention_pass(wrong, tuning)
    assert (result["deleted"], result["failed"]) == (0, 1)
    assert "NoSuchBucket" in result["errors"][0]
    assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 5
    assert len(await services.store.list_keys()) == 5
    seen = await report(services.pool, services.keys.epochs)
    assert seen["deletions_retrying"] == 1 and seen["overdue"] == 5 and seen["ok"] is False

    assert (await retention_pass(services, tuning))["deleted"] == 5
    after: dict[str, Any] = await report(services.pool, services.keys.epochs)
    assert (after["overdue"], after["live_recordings"], after["ok"]) == (0, 0, True)
