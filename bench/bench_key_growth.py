"""Growth of key material with weekly epochs: the epoch key file and the key tables.

Run from the repository root:  .venv/bin/python bench/bench_key_growth.py [SAMPLE_CUSTOMERS]

Computes what a deployment keeps at steady state (every epoch not yet destroyed, plus the
weeks provisioned ahead) and checks the estimate by measuring a sample on the embedded
PostgreSQL: SAMPLE_CUSTOMERS customers (default 200) get a key pair for every live weekly
epoch, the table and index bytes per row are measured, and the figures are scaled to 10,000
customers. The key file is measured with that many epochs and a year of tombstones (it does
not grow with customers). Grant keys are measured per covered recording.
"""

from __future__ import annotations

import asyncio
import math
import platform
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import asyncpg  # noqa: E402
from benchstack import bench_settings  # noqa: E402

from crypto import epoch_of, new_data_key, seal_grant_key  # noqa: E402
from recstore.custody.provisioning import EPOCHS_AHEAD  # noqa: E402
from recstore.db import migrate  # noqa: E402
from recstore.devstack.stack import EmbeddedStack  # noqa: E402
from recstore.retention.policy import MAX_RETENTION, epoch_end, epoch_start  # noqa: E402
from recstore.services import open_services  # noqa: E402

TARGET = 10_000


def live_epochs(now: datetime) -> list[str]:
    """Epochs holding keys at `now`: not yet closed (end + 90 days ahead), or provisioned."""
    epochs, at = [], now - MAX_RETENTION - timedelta(days=7)
    while len(epochs) < 100:
        epoch = epoch_of(at)
        if epoch_end(epoch) + MAX_RETENTION > now and epoch not in epochs:
            epochs.append(epoch)
        at += timedelta(days=1)
        if epoch_start(epoch_of(at)) > now + timedelta(days=7 * EPOCHS_AHEAD):
            break
    return epochs


async def relation_bytes(conn: asyncpg.Connection, table: str) -> int:
    size: int = await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", table)
    return size


async def main(sample: int) -> None:
    now = datetime.now(UTC)
    epochs = live_epochs(now)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stack = EmbeddedStack(work / "stack")
        info = stack.start()
        try:
            conn = await asyncpg.connect(info.database_url)
            await migrate(conn)
            settings = bench_settings(info, work)
            async with open_services(settings, pool_size=2) as svc:
                empty_keys = await relation_bytes(conn, "customer_keys")
                ids = [uuid.uuid4() for _ in range(sample)]
                for customer_id in ids:
                    await conn.execute(
                        "INSERT INTO customers (id, webhook_secret_wrapped) VALUES ($1, '\\x00')",
                        customer_id)
                    for epoch in epochs:
                        await svc.keys.provision(conn, customer_id, epoch)
                await conn.execute("VACUUM ANALYZE customer_keys")
                rows = await conn.fetchval("SELECT count(*) FROM customer_keys")
                per_row = (await relation_bytes(conn, "customer_keys") - empty_keys) / rows
                for week in range(52):  # a year of destroyed epochs leaves tombstones
                    svc.keys.epochs.destroy(epoch_of(now - timedelta(days=104 + 7 * week)))
                key_file = settings.epoch_keys_file.stat().st_size
                sealed = seal_grant_key(svc.keys.staff_public_key or b"", new_data_key(),
                                        grant_id=uuid.uuid4(), recording_id=uuid.uuid4(),
                                        customer_id=ids[0], staff_id=None, expires_at=0)
            await conn.close()
        finally:
            stack.stop()
    per_customer = len(epochs)
    print(f"python {platform.python_version()}, {platform.machine()}, {platform.system()}")
    print(f"live weekly epochs at steady state: {per_customer} ({epochs[0]} .. {epochs[-1]})")
    print("| what | sample (measured) | at 10,000 customers |")
    print("| --- | ---: | ---: |")
    print(f"| customer_keys rows | {rows} ({sample} customers) | {TARGET * per_customer:,} |")
    print(f"| customer_keys bytes/row, table + indexes | {per_row:.0f} |"
          f" {TARGET * per_customer * per_row / 2**20:.0f} MiB |")
    monthly = math.ceil((MAX_RETENTION.days + 31) / 30) + 1
    print(f"| same with monthly epochs (estimate, {monthly} live) | |"
          f" {TARGET * monthly * per_row / 2**20:.0f} MiB |")
    print(f"| epoch key file, {per_customer} live epochs + 52 tombstones | {key_file:,} B |"
          f" {key_file:,} B (independent of customers) |")
    print(f"| grant key (bytea) per covered recording | {len(sealed)} B | per grant x recordings |")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
