"""Event-loop lag: how late a timer fires is how long something blocked the loop.

Every request shares the one loop, so a stall (hashing on the loop, a synchronous call)
delays every connection at once; the histogram makes that visible in /metrics, and the
benchmarks read it around uploads and downloads.
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Histogram

INTERVAL = 0.005


async def probe_loop_lag(histogram: Histogram, stop: asyncio.Event,
                         interval: float = INTERVAL) -> None:
    while not stop.is_set():
        due = time.perf_counter() + interval
        await asyncio.sleep(interval)
        histogram.observe(max(0.0, time.perf_counter() - due))
