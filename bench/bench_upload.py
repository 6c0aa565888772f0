"""Signed upload end to end versus a raw S3 put of the same bytes, in one run.

Run from the repository root:  .venv/bin/python bench/bench_upload.py [MiB ...]

Starts the embedded PostgreSQL + S3 in a temporary directory, serves the real app on
loopback, and for each size: (a) a raw minio put_object of the plaintext (the baseline:
what storing without recstore costs), (b) the signed upload webhook (probe, encrypt while
streaming, multipart put, commit), (c) the same object read back through the API. Reports
MB/s for each and the peak Python memory of the server side (tracemalloc) during (b).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import aiohttp
from aiohttp import web
from benchstack import bench_settings

from factories import bearer, login, make_tenant, upload_headers, wav
from recstore.app import create_app
from recstore.bootstrap import prepare_storage
from recstore.devstack.stack import EmbeddedStack
from recstore.services import open_services

MiB = 1 << 20
FILLER = bytes(MiB)


def body(total: int, head: bytes) -> Iterator[bytes]:
    yield head
    sent = len(head)
    while sent < total:
        take = min(MiB, total - sent)
        yield FILLER if take == MiB else FILLER[:take]
        sent += take


async def run(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStack(Path(tmp) / "stack") as info:
        settings = bench_settings(info, Path(tmp), max_upload_bytes=2048 * MiB)
        await prepare_storage(settings)
        async with open_services(settings) as svc:
            runner = web.AppRunner(create_app(services=svc))
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            url = "http://{}:{}".format(*runner.addresses[0])
            tenant = await make_tenant(svc)
            head = wav(1.0)
            print("| size | raw S3 put MB/s | signed upload MB/s | of raw | download MB/s "
                  "| server peak MiB |")
            print("| ---: | ---: | ---: | ---: | ---: | ---: |")
            async with aiohttp.ClientSession() as http:
                class Client:  # the factories' login() takes a test client with .post
                    async def post(self, path: str, **kw: Any) -> Any:
                        return await http.post(url + path, **kw)

                token = await login(Client(), tenant.user_email)
                # Warm-up: SeaweedFS allocates the bucket's volume on the first write.
                await asyncio.to_thread(svc.store._client.put_object, svc.store.bucket,
                                        "warm-up", io.BytesIO(b"x"), 1)
                for size_mib in sizes:
                    total = size_mib * MiB

                    def raw_put(total: int, name: str) -> None:
                        data = b"".join(body(total, head))
                        svc.store._client.put_object(svc.store.bucket, name, io.BytesIO(data),
                                                     len(data), part_size=8 * MiB)

                    started = time.perf_counter()
                    await asyncio.to_thread(raw_put, total, f"raw/{size_mib}")
                    raw = total / (time.perf_counter() - started) / 1e6

                    digest = hashlib.sha256()
                    for piece in body(total, head):
                        digest.update(piece)
                    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, b"",
                                             body_sha256=digest.hexdigest())

                    async def stream(total: int) -> AsyncIterator[bytes]:
                        for piece in body(total, head):
                            yield piece

                    tracemalloc.start()
                    started = time.perf_counter()
                    async with http.post(f"{url}/webhooks/upload/{tenant.customer_id}",
                                         data=stream(total), headers=headers) as response:
                        assert response.status == 201, await response.text()
                        recording_id = (await response.json())["id"]
                    elapsed = time.perf_counter() - started
                    _, peak = tracemalloc.get_traced_memory()
                    tracemalloc.stop()
                    signed = total / elapsed / 1e6

                    started = time.perf_counter()
                    received = 0
                    async with http.get(f"{url}/api/v1/recordings/{recording_id}/audio",
                                        headers=bearer(token)) as response:
                        async for piece in response.content.iter_chunked(MiB):
                            received += len(piece)
                    assert received == total
                    down = total / (time.perf_counter() - started) / 1e6
                    print(f"| {size_mib} MiB | {raw:.0f} | {signed:.0f} | {signed / raw:.0%} "
                          f"| {down:.0f} | {peak / MiB:.1f} |")
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(run([int(a) for a in sys.argv[1:]] or [16, 64, 256]))
