"""Listing and caller search at 1,000,000 recordings: plans and latency of list_page.

Run from the repository root:  .venv/bin/python bench/bench_search.py [ROWS]

Starts the embedded PostgreSQL in a temporary directory, generates ROWS metadata rows
(default 1,000,000) for one customer with SQL generate_series (every 100th from the same
caller, one row every 10 s), plus 200,000 rows of four other customers, ANALYZEs, and runs
each query shape recstore sends 50 times through recstore.recordings.read.list_page. Prints the
median and 95th percentile latency and EXPLAIN (ANALYZE, BUFFERS) of each shape.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchstack import bench_settings

from crypto import blind_index, epoch_of
from recstore.accounts.customers import create_customer
from recstore.db import migrate
from recstore.devstack.stack import EmbeddedStack
from recstore.recordings.read import list_page
from recstore.services import Services, open_services

RUNS = 50
STEP = timedelta(seconds=10)


async def generate(svc: Services, customer_id: uuid.UUID, rows: int, newest: datetime,
                   caller: bytes) -> None:
    async with svc.pool.acquire() as conn:
        week = newest
        while week > newest - STEP * rows - timedelta(days=7):  # weekly epochs
            await svc.keys.public_key(conn, customer_id, epoch_of(week))
            week -= timedelta(days=7)
        await conn.execute(
            "INSERT INTO recordings (id, customer_id, kind, provider, epoch, recorded_at,"
            " expires_at, content_type, size_bytes, sha256, object_key, sealed_data_key,"
            " caller_index)"
            " SELECT gen_random_uuid(), $1::uuid, 'call', 'bench',"
            " to_char(t AT TIME ZONE 'UTC', 'IYYY-\"W\"IW'), t, t + interval '90 days', 'audio/wav',"
            " 1000, '\\x00'::bytea, 'bench/' || $1::uuid::text || '/' || g, '\\x00'::bytea,"
            " CASE WHEN g % 100 = 0 THEN $4::bytea END"
            " FROM generate_series(1, $2) AS g,"
            " LATERAL (SELECT $3::timestamptz - g * interval '10 seconds' AS t) AS s",
            customer_id, rows, newest, caller)


class Explaining:
    def __init__(self, conn: Any) -> None:
        self.conn, self.text = conn, ""

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        rows = await self.conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
        self.text = "\n".join(row[0] for row in rows)
        return []


async def run(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStack(Path(tmp) / "stack") as info:
        settings = bench_settings(info, Path(tmp))
        async with open_services(settings) as svc:
            async with svc.pool.acquire() as conn:
                await migrate(conn)
                customers = [(await create_customer(conn, svc.keys, name=f"Bench {i}",
                                                    email=f"b{i}@bench.example")).customer_id
                             for i in range(5)]
            caller = blind_index(b"\x07" * 32, "+46701234567")
            newest = datetime.now(UTC) - timedelta(minutes=1)
            started = time.perf_counter()
            await generate(svc, customers[0], rows, newest, caller)
            for other in customers[1:]:
                await generate(svc, other, 50_000, newest, caller)
            async with svc.pool.acquire() as conn:
                await conn.execute("VACUUM ANALYZE recordings")
                total = await conn.fetchval("SELECT count(*) FROM recordings")
                size = await conn.fetchval(
                    "SELECT pg_size_pretty(pg_total_relation_size('recordings'))")
            print(f"{total:,} rows ({rows:,} for the measured customer), {size},"
                  f" generated in {time.perf_counter() - started:.0f} s\n")

            target = customers[0]
            async with svc.pool.acquire() as conn:
                middle = await conn.fetchval(
                    "SELECT recorded_at FROM recordings WHERE customer_id = $1"
                    " ORDER BY recorded_at DESC OFFSET $2 LIMIT 1", target, rows // 2)
                deep = (await list_page(conn, target, limit=1, until=middle)).rows[0]
            from recstore.recordings.read import encode_cursor

            cursor = encode_cursor(deep["recorded_at"], deep["id"])
            day = (newest - timedelta(days=40), newest - timedelta(days=39))
            shapes: dict[str, dict[str, Any]] = {
                "newest page": {},
                "page halfway down (cursor)": {"cursor": cursor},
                "caller, newest page": {"caller_index": caller},
                "caller, page halfway down": {"caller_index": caller, "cursor": cursor},
                "one day (since/until)": {"since": day[0], "until": day[1]},
                "one day and caller": {"since": day[0], "until": day[1], "caller_index": caller},
            }
            print("| query (limit 50) | rows | median ms | p95 ms |")
            print("| --- | ---: | ---: | ---: |")
            plans = {}
            async with svc.pool.acquire() as conn:
                for name, kwargs in shapes.items():
                    timings = []
                    for _ in range(RUNS):
                        began = time.perf_counter()
                        page = await list_page(conn, target, limit=50, **kwargs)
                        timings.append((time.perf_counter() - began) * 1000)
                    timings.sort()
                    print(f"| {name} | {len(page.rows)} | {statistics.median(timings):.2f} "
                          f"| {timings[int(len(timings) * 0.95) - 1]:.2f} |")
                    explaining = Explaining(conn)
                    await list_page(explaining, target, limit=50, **kwargs)  # type: ignore[arg-type]
                    plans[name] = explaining.text
            for name, text in plans.items():
                print(f"\n{name}:\n```\n{text}\n```")


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
