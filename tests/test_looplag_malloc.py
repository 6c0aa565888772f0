"""The loop-lag probe sees a blocked loop; the allocator bounds apply on glibc."""

from __future__ import annotations

import asyncio
import platform
import time

import pytest
from prometheus_client import CollectorRegistry, Histogram

from recstore.runtime.looplag import probe_loop_lag
from recstore.runtime.malloc_tuning import bound_malloc


async def test_a_blocked_loop_shows_up_as_lag() -> None:
    histogram = Histogram("lag", "lag", buckets=(0.01, 0.05, 1.0),
                          registry=CollectorRegistry())
    stop = asyncio.Event()
    probe = asyncio.create_task(probe_loop_lag(histogram, stop))
    await asyncio.sleep(0.02)
    time.sleep(0.1)  # the stall being measured: every timer due meanwhile fires late
    await asyncio.sleep(0.02)
    stop.set()
    await probe
    buckets = {s.labels["le"]: s.value for s in histogram.collect()[0].samples
               if s.name.endswith("_bucket")}
    assert buckets["+Inf"] > buckets["0.05"]  # at least one timer fired 50 ms or more late


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_malloc_bounds_apply_unless_the_operator_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    assert bound_malloc() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert bound_malloc() is False
