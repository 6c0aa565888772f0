"""10,000 expired recordings go in one run, and the run's memory does not grow with them."""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from factories import insert_recordings, make_tenant
from recstore.retention import deletion as retention
from recstore.services import Services

MIB = 1024 * 1024


async def _measured_pass(svc: Services) -> tuple[retention.PassResult, int]:
    tracemalloc.start()
    try:
        result = await retention.run_pass(svc.pool, svc.store)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


async def test_ten_thousand_expired_recordings_in_one_run_with_bounded_memory(
        services: Services) -> None:
    tenant = await make_tenant(services)
    expired_at = datetime.now(UTC) - timedelta(days=91)
    # Every 10th row gets a real object; deleting an absent key costs the store the same
    # two requests (list versions, delete), and keeps the set-up short.
    await insert_recordings(services, tenant.customer_id, count=1_000, recorded_at=expired_at,
                            object_every=10)
    small, small_peak = await _measured_pass(services)
    assert small.deleted == 1_000

    await insert_recordings(services, tenant.customer_id, count=10_000, recorded_at=expired_at,
                            object_every=10)
    live = await insert_recordings(services, tenant.customer_id, count=5,
                                   recorded_at=datetime.now(UTC))
    started = time.monotonic()
    large, large_peak = await _measured_pass(services)
    elapsed = time.monotonic() - started

    assert (large.deleted, large.failed) == (10_000, 0), large
    assert large.batches == 10_000 // retention.DEFAULT_BATCH_SIZE
    assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 5
    assert sorted(await services.store.list_keys()) == sorted(key for _, key in live)
    assert await services.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'recording.expired'") == 11_000
    # Ten times the recordings, about the same peak: memory is per batch, not per run.
    assert large_peak < 2 * small_peak + MIB, (small_peak, large_peak)
    assert large_peak < 16 * MIB
    print(f"10,000 deleted in {elapsed:.1f} s, peak {large_peak / MIB:.1f} MiB"
          f" (1,000: {small_peak / MIB:.1f} MiB)")
