"""Memory of GET /api/v1/export as the account grows: it must stay flat.

Run from the repository root:  .venv/bin/python bench/bench_export.py [MiB ...]
(default: 256 1024 2048 MiB of audio, in 32 MiB recordings).

Starts the embedded PostgreSQL + S3 in a temporary directory and `recstore serve` as a
separate process, stores synthetic recordings (a valid WAV header, then silence) until the
account holds each total, and downloads the export over HTTP while sampling the server
process's resident set size every 20 ms. Also reports the peak of Python allocations
(tracemalloc) while the export generator runs in this process over the smallest account.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import tracemalloc
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import psutil
from benchstack import bench_settings, customer_with_admin, free_port, serve, silent_wav

from recstore.bootstrap import prepare_storage
from recstore.devstack.stack import EmbeddedStack
from recstore.recordings.store import IncomingRecording, store_recording
from recstore.rights.export import export_archive
from recstore.services import Services, open_services

MiB = 1 << 20
RECORDING = 32 * MiB
ROOT = Path(__file__).resolve().parents[1]


async def fill(svc: Services, customer_id: object, start: int, count: int) -> None:
    now = datetime.now(UTC)
    for i in range(start, start + count):
        incoming = IncomingRecording(customer_id=customer_id, provider="bench",  # type: ignore[arg-type]
                                     kind="call", provider_recording_id=f"bench-{i}",
                                     recorded_at=now - timedelta(minutes=i))
        await store_recording(svc.pool, svc.store, svc.keys, incoming, silent_wav(RECORDING),
                              max_bytes=RECORDING)


async def download(url: str, token: str, pid: int, keep: Path | None) -> tuple[int, float, int]:
    """(bytes, seconds, peak RSS) of one export download."""
    server = psutil.Process(pid)
    peak = server.memory_info().rss
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.memory_info().rss)
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    received = 0
    started = time.perf_counter()
    out = keep.open("wb") if keep else None
    try:
        async with aiohttp.ClientSession() as http, http.get(
                f"{url}/api/v1/export", headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=None)) as response:
            assert response.status == 200, await response.text()
            async for piece in response.content.iter_chunked(MiB):
                received += len(piece)
                if out:
                    out.write(piece)
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        await sampler
        if out:
            out.close()
    return received, elapsed, peak


async def python_peak(svc: Services, customer_id: object, actor_id: object) -> tuple[int, int]:
    tracemalloc.start()
    try:
        total = 0
        async for piece in export_archive(svc.pool, svc.store, svc.keys, customer_id,  # type: ignore[arg-type]
                                          actor_id):  # type: ignore[arg-type]
            total += len(piece)
        return total, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def run(levels: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStack(Path(tmp) / "stack") as info:
        settings = bench_settings(info, Path(tmp))
        await prepare_storage(settings)
        port = free_port()
        async with open_services(settings) as svc:
            created, admin, token = await customer_with_admin(svc, "Bench AB", "bench")
            server = await serve(settings, port)
            try:
                url = f"http://127.0.0.1:{port}"
                idle = psutil.Process(server.pid).memory_info().rss
                print(f"server RSS after start: {idle / MiB:.1f} MiB")
                print("| audio in account | recordings | export size | seconds | MB/s "
                      "| server RSS before | peak during export |")
                print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
                stored = 0
                for level in levels:
                    count = level * MiB // RECORDING
                    await fill(svc, created.customer_id, stored, count - stored)
                    stored = count
                    before = psutil.Process(server.pid).memory_info().rss
                    keep = Path(tmp) / "export.zip" if level == levels[0] else None
                    size, seconds, peak = await download(url, token, server.pid, keep)
                    if keep:
                        with zipfile.ZipFile(keep) as archive:
                            assert archive.testzip() is None
                            recordings = [n for n in archive.namelist()
                                          if n.startswith("recordings/")]
                            assert len(recordings) == 2 * count
                        keep.unlink()
                    print(f"| {level} MiB | {count} | {size / MiB:.0f} MiB | {seconds:.1f} "
                          f"| {size / seconds / 1e6:.0f} | {before / MiB:.1f} MiB "
                          f"| {peak / MiB:.1f} MiB |")
                exported, py_peak = await python_peak(svc, created.customer_id, admin)
                print(f"\nin-process generator over {exported / MiB:.0f} MiB of archive: "
                      f"peak Python allocations (tracemalloc) {py_peak / MiB:.2f} MiB")
            finally:
                server.terminate()
                await server.wait()


if __name__ == "__main__":
    asyncio.run(run([int(a) for a in sys.argv[1:]] or [256, 1024, 2048]))
