"""Deletion rate of the retention scheduler (recordings per second), on the embedded stack.

Run from the repository root:  .venv/bin/python bench/bench_retention.py [N]

Starts a real PostgreSQL and S3 (SeaweedFS) in a temporary directory, inserts N expired
recordings (rows by COPY, each with a small real object), and times one `run_pass` until
all are gone: claim + shred, object deletes, row deletes with their audit entries. Scenarios:
the default batch (200), a larger batch (1000), and a versioned bucket, where every key's
versions are listed and deleted one key at a time. A last run repeats the default under
tracemalloc for the peak Python memory.
"""

from __future__ import annotations

import asyncio
import platform
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import asyncpg  # noqa: E402
from benchstack import bench_settings  # noqa: E402
from minio.versioningconfig import ENABLED, VersioningConfig  # noqa: E402

from factories import insert_recordings, make_tenant  # noqa: E402
from recstore.db import migrate  # noqa: E402
from recstore.devstack.stack import EmbeddedStack, StackInfo  # noqa: E402
from recstore.retention import deletion as retention  # noqa: E402
from recstore.services import open_services  # noqa: E402

EXPIRED = datetime.now(UTC) - timedelta(days=91)


async def scenario(info: StackInfo, work: Path, name: str, count: int, *, batch: int,
                   versioned: bool = False, traced: bool = False) -> dict[str, Any]:
    bucket = f"bench-{name}"
    settings = bench_settings(info, work, s3_bucket=bucket,
                              epoch_keys_file=work / f"{name}-epochs.json")
    async with open_services(settings, pool_size=5) as svc:
        await svc.store.ensure_bucket()
        if versioned:
            await asyncio.to_thread(svc.store._client.set_bucket_versioning, bucket,
                                    VersioningConfig(ENABLED))
        tenant = await make_tenant(svc, f"Bench {name}")
        await insert_recordings(svc, tenant.customer_id, count=count, recorded_at=EXPIRED)
        if traced:
            tracemalloc.start()
        started = time.perf_counter()
        result = await retention.run_pass(svc.pool, svc.store, batch_size=batch)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if traced else None
        if traced:
            tracemalloc.stop()
        assert result.deleted == count and not await svc.store.list_keys(), result
        steps = None
        if name == "batch200-b":  # once more, step by step, to see where the time goes
            await insert_recordings(svc, tenant.customer_id, count=count, recorded_at=EXPIRED)
            steps = await timed_steps(svc, batch)
        await svc.pool.execute("DELETE FROM customer_keys WHERE customer_id = $1",
                               tenant.customer_id)
    return {"name": name, "count": count, "batch": batch, "seconds": elapsed,
            "rate": count / elapsed, "peak": peak, "steps": steps}


async def timed_steps(svc: Any, batch: int) -> dict[str, float]:
    """run_pass's three steps, each timed over all batches."""
    spent = {"claim + shred": 0.0, "object deletes": 0.0, "row deletes + audit": 0.0}
    worker = uuid.uuid4()
    while True:
        mark = time.perf_counter()
        claimed = await retention.claim_expired(svc.pool, worker, now=datetime.now(UTC),
                                                limit=batch)
        spent["claim + shred"] += time.perf_counter() - mark
        if not claimed:
            return spent
        mark = time.perf_counter()
        outcome = await retention.delete_objects(svc.store, claimed)
        spent["object deletes"] += time.perf_counter() - mark
        mark = time.perf_counter()
        await retention.finish(svc.pool, worker, outcome.done)
        spent["row deletes + audit"] += time.perf_counter() - mark


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stack = EmbeddedStack(work / "stack")
        info = stack.start()
        try:
            conn = await asyncpg.connect(info.database_url)
            await migrate(conn)
            await conn.close()
            runs = [
                await scenario(info, work, "batch200-a", count, batch=200),
                await scenario(info, work, "batch200-b", count, batch=200),
                await scenario(info, work, "batch1000", count, batch=1000),
                await scenario(info, work, "versioned", count // 5, batch=200, versioned=True),
                await scenario(info, work, "traced", count, batch=200, traced=True),
            ]
        finally:
            stack.stop()
    print(f"python {platform.python_version()}, {platform.machine()}, {platform.system()}")
    print("| run | recordings | batch | seconds | recordings/s | peak (tracemalloc) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for run in runs:
        peak = f"{run['peak'] / 2**20:.1f} MiB" if run["peak"] is not None else ""
        print(f"| {run['name']} | {run['count']} | {run['batch']} | {run['seconds']:.1f}"
              f" | {run['rate']:.0f} | {peak} |")
    for run in runs:
        if run["steps"]:
            print(f"\nsteps of {run['name']} repeated:", ", ".join(
                f"{step} {seconds:.1f} s" for step, seconds in run["steps"].items()))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
