"""Downloads, Range reads, export, uploads and memory, each beside the raw object store.

Run from the repository root:  .venv/bin/python bench/bench_io.py [--rounds 3] [--json FILE]

Starts the embedded PostgreSQL + SeaweedFS in a temporary directory and `recstore serve` as a
separate process; this process is the client (aiohttp). Every recstore figure has its
baseline from the same run: the same bytes moved by the same client straight to or from
SeaweedFS over presigned URLs (no recstore in between). Rounds are interleaved (raw, then
recstore, for each case, then the next round), and each row gives the median and the
spread (min to max) of the rounds. Event-loop stalls come from the server's own probe
(`recstore_event_loop_lag_seconds` in /metrics, a 5 ms timer), read before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import psutil
from benchstack import (
    METRICS_HEADERS,
    bench_settings,
    customer_with_admin,
    free_port,
    serve,
    silent_wav,
    wav_header,
)

from ingest.upload_signature import signed_headers
from recstore.bootstrap import prepare_storage
from recstore.devstack.stack import EmbeddedStack
from recstore.recordings.store import IncomingRecording, store_recording
from recstore.services import Services, open_services

MiB = 1 << 20
SILENCE = bytes(MiB)
LAG_LIMIT = 0.01


def wav_digest(total: int) -> str:
    import hashlib
    digest = hashlib.sha256(wav_header(total - 44))
    left = total - 44
    while left:
        take = min(MiB, left)
        digest.update(SILENCE[:take])
        left -= take
    return digest.hexdigest()


async def seed(svc: Services, customer_id: UUID, size: int, n: int) -> tuple[UUID, str]:
    incoming = IncomingRecording(customer_id=customer_id, provider="bench", kind="call",
                                 provider_recording_id=f"seed-{size}-{n}",
                                 recorded_at=datetime.now(UTC) - timedelta(minutes=n))
    stored = await store_recording(svc.pool, svc.store, svc.keys, incoming, silent_wav(size),
                                   max_bytes=size)
    key: str = await svc.pool.fetchval("SELECT object_key FROM recordings WHERE id = $1",
                                       stored.recording_id)
    return stored.recording_id, key


class Client:
    def __init__(self, http: aiohttp.ClientSession, base: str, svc: Services) -> None:
        self.http, self.base, self.svc = http, base, svc

    def presigned_get(self, key: str) -> str:
        url: str = self.svc.store._client.presigned_get_object(self.svc.store.bucket, key)
        return url

    def presigned_put(self, key: str) -> str:
        url: str = self.svc.store._client.presigned_put_object(self.svc.store.bucket, key)
        return url

    async def drain(self, url: str, headers: dict[str, str] | None = None) -> tuple[int, float]:
        """(bytes, seconds) of one GET read to the end."""
        started = time.perf_counter()
        received = 0
        async with self.http.get(url, headers=headers or {}) as response:
            assert response.status in (200, 206), (response.status, await response.text())
            async for piece in response.content.iter_chunked(MiB):
                received += len(piece)
        return received, time.perf_counter() - started

    async def first_byte(self, url: str, headers: dict[str, str]) -> float:
        started = time.perf_counter()
        async with self.http.get(url, headers=headers) as response:
            assert response.status == 206, response.status
            await response.content.read(1)
            elapsed = time.perf_counter() - started
            await response.read()
        return elapsed

    async def lag_counts(self) -> tuple[float, float]:
        """(samples, samples over LAG_LIMIT) of the server's loop-lag histogram so far."""
        async with self.http.get(f"{self.base}/metrics", headers=METRICS_HEADERS) as response:
            text = await response.text()
        total = over = 0.0
        for line in text.splitlines():
            if line.startswith("recstore_event_loop_lag_seconds_count"):
                total = float(line.split()[-1])
            elif line.startswith('recstore_event_loop_lag_seconds_bucket{le="0.01"}'):
                over = -float(line.split()[-1])
        return total, total + over


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


async def run(rounds: int, big: int) -> dict[str, Any]:
    results: dict[str, Any] = {"rounds": rounds, "cases": {}}
    cases: dict[str, dict[str, list[float]]] = results["cases"]

    def record(case: str, name: str, value: float) -> None:
        cases.setdefault(case, {}).setdefault(name, []).append(value)

    with tempfile.TemporaryDirectory() as tmp, EmbeddedStack(Path(tmp) / "stack") as info:
        settings = bench_settings(info, Path(tmp), max_upload_bytes=big * MiB + MiB)
        await prepare_storage(settings)
        async with open_services(settings) as svc:
            one, _, one_token = await customer_with_admin(svc, "Bench AB", "bench")
            two, _, two_token = await customer_with_admin(svc, "Export AB", "export")
            token = {"Authorization": f"Bearer {one_token}"}
            export_token = {"Authorization": f"Bearer {two_token}"}
            print("seeding recordings", file=sys.stderr, flush=True)
            downloads = {32: await seed(svc, one.customer_id, 32 * MiB, 1),
                         big: await seed(svc, one.customer_id, big * MiB, 2)}
            exported = [await seed(svc, two.customer_id, 32 * MiB, 10 + i) for i in range(8)]
            cold = [await seed(svc, one.customer_id, 4 * MiB, 100 + i) for i in range(rounds * 5)]

            port = free_port()
            server = await serve(settings, port)
            process = psutil.Process(server.pid)
            base = f"http://127.0.0.1:{port}"
            timeout = aiohttp.ClientTimeout(total=None)
            try:
                async with aiohttp.ClientSession(timeout=timeout) as http:
                    client = Client(http, base, svc)
                    await client.drain(f"{base}/api/v1/recordings/{downloads[32][0]}/audio", token)
                    results["server_rss_idle_mib"] = process.memory_info().rss / MiB
                    for r in range(rounds):
                        print(f"round {r + 1} of {rounds}", file=sys.stderr, flush=True)
                        await one_round(client, r, token, export_token, downloads, exported,
                                        cold, one.customer_id, one.webhook_secret, big, record)
                    results["memory"] = await memory(client, process, token, downloads[big],
                                                     one.customer_id, one.webhook_secret, big)
            finally:
                server.terminate()
                await server.wait()
    results["summary"] = {case: {name: summary(values) for name, values in runs.items()}
                          for case, runs in cases.items()}
    return results


async def signed_upload(client: Client, customer_id: UUID, secret: str, size: int,
                        digest: str, n: int) -> float:
    # With its length declared, as curl and the providers' own clients send it.
    headers = signed_headers(secret, customer_id, body_sha256=digest, timestamp=int(time.time()),
                             headers={"Content-Type": "audio/wav", "Content-Length": str(size),
                                      "Idempotency-Key": f"bench-upload-{size}-{n}"})
    started = time.perf_counter()
    async with client.http.post(f"{client.base}/webhooks/upload/{customer_id}",
                                data=silent_wav(size), headers=headers) as response:
        assert response.status == 201, await response.text()
    return time.perf_counter() - started


async def raw_put(client: Client, size: int, n: int) -> float:
    url = client.presigned_put(f"bench-raw/{size}-{n}")
    started = time.perf_counter()
    async with client.http.put(url, data=silent_wav(size),
                               headers={"Content-Length": str(size)}) as response:
        assert response.status == 200, await response.text()
    return time.perf_counter() - started


async def one_round(client: Client, r: int, token: dict[str, str], export_token: dict[str, str],
                    downloads: dict[int, tuple[UUID, str]], exported: list[tuple[UUID, str]],
                    cold: list[tuple[UUID, str]], customer_id: UUID, secret: str, big: int,
                    record: Callable[[str, str, float], None]) -> None:
    base = client.base
    for size, (rid, key) in downloads.items():
        raw_bytes, raw_s = await client.drain(client.presigned_get(key))
        got, ours_s = await client.drain(f"{base}/api/v1/recordings/{rid}/audio", token)
        assert got == size * MiB
        record(f"download {size} MiB", "raw MB/s", raw_bytes / raw_s / 1e6)
        record(f"download {size} MiB", "recstore MB/s", got / ours_s / 1e6)
        record(f"download {size} MiB", "ratio", raw_s / ours_s)

    raw_s = 0.0
    raw_bytes = 0
    for _, key in exported:
        got, seconds = await client.drain(client.presigned_get(key))
        raw_bytes, raw_s = raw_bytes + got, raw_s + seconds
    got, ours_s = await client.drain(f"{base}/api/v1/export", export_token)
    record("export 8 x 32 MiB", "raw MB/s", raw_bytes / raw_s / 1e6)
    record("export 8 x 32 MiB", "recstore MB/s", got / ours_s / 1e6)
    record("export 8 x 32 MiB", "ratio", (raw_s / raw_bytes) / (ours_s / got))

    rid, key = downloads[big]
    middle = big * MiB // 2
    spec = {"Range": f"bytes={middle}-{middle + 1023}"}
    raw_url, ours_url = client.presigned_get(key), f"{base}/api/v1/recordings/{rid}/audio"
    raws, ours = [], []
    for _ in range(20):
        raws.append(await client.first_byte(raw_url, spec))
        ours.append(await client.first_byte(ours_url, {**token, **spec}))
    case = f"1 KiB Range mid {big} MiB, first byte"
    record(case, "raw ms", statistics.median(raws) * 1000)
    record(case, "recstore ms (repeat reads)", statistics.median(ours) * 1000)
    record(case, "ratio", statistics.median(ours) / statistics.median(raws))
    colds, cold_raws = [], []
    for rid, key in cold[r * 5:(r + 1) * 5]:
        spec = {"Range": f"bytes={2 * MiB}-{2 * MiB + 1023}"}
        cold_raws.append(await client.first_byte(client.presigned_get(key), spec))
        colds.append(await client.first_byte(f"{base}/api/v1/recordings/{rid}/audio",
                                             {**token, **spec}))
    record("1 KiB Range, first read of a recording", "raw ms", statistics.median(cold_raws) * 1000)
    record("1 KiB Range, first read of a recording", "recstore ms",
           statistics.median(colds) * 1000)
    record("1 KiB Range, first read of a recording", "ratio",
           statistics.median(colds) / statistics.median(cold_raws))

    for size in (1, 32, big):
        digest = wav_digest(size * MiB)
        raw_s = await raw_put(client, size * MiB, r)
        before = await client.lag_counts()
        ours_s = await signed_upload(client, customer_id, secret, size * MiB, digest, r)
        after = await client.lag_counts()
        await asyncio.sleep(ours_s)  # the baseline: the same server, idle for as long
        idle = await client.lag_counts()
        case = f"upload {size} MiB"
        record(case, "raw MB/s", size * MiB / raw_s / 1e6)
        record(case, "recstore MB/s", size * MiB / ours_s / 1e6)
        record(case, "ratio", raw_s / ours_s)
        if size == 1:
            record(case, "fixed cost ms", (ours_s - raw_s) * 1000)
        record(case, "loop stalls > 10 ms", after[1] - before[1])
        record(case, "loop stalls > 10 ms, idle as long", idle[1] - after[1])


async def memory(client: Client, process: psutil.Process, token: dict[str, str],
                 download: tuple[UUID, str], customer_id: UUID, secret: str,
                 big: int) -> dict[str, float]:
    """8 uploads and 8 downloads of `big` MiB at once; the server's RSS every 20 ms."""
    idle = process.memory_info().rss
    peak = idle
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.02)

    digest = wav_digest(big * MiB)
    sampler = asyncio.create_task(sample())
    url = f"{client.base}/api/v1/recordings/{download[0]}/audio"
    jobs: list[Awaitable[Any]] = [client.drain(url, token) for _ in range(8)]
    jobs += [signed_upload(client, customer_id, secret, big * MiB, digest, 1000 + i)
             for i in range(8)]
    started = time.perf_counter()
    await asyncio.gather(*jobs)
    seconds = time.perf_counter() - started
    done.set()
    await sampler
    await asyncio.sleep(3)
    after = process.memory_info().rss
    return {"idle_mib": idle / MiB, "peak_mib": peak / MiB, "after_mib": after / MiB,
            "seconds": seconds}


def table(results: dict[str, Any]) -> str:
    lines = ["| case | figure | median | spread (min to max) |", "| --- | --- | ---: | ---: |"]
    for case, figures in results["summary"].items():
        for name, s in figures.items():
            fmt = "{:.2f}" if name == "ratio" else "{:.1f}"
            lines.append(f"| {case} | {name} | {fmt.format(s['median'])} | "
                         f"{fmt.format(s['min'])} to {fmt.format(s['max'])} |")
    m = results["memory"]
    lines += ["", "| 8 uploads + 8 downloads of the big size at once | server RSS MiB |",
              "| --- | ---: |",
              f"| idle before | {m['idle_mib']:.0f} |", f"| peak | {m['peak_mib']:.0f} |",
              f"| 3 s after | {m['after_mib']:.0f} |",
              f"| wall time, s | {m['seconds']:.1f} |"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big", type=int, default=256, help="MiB of the big cases (256)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    results = asyncio.run(run(args.rounds, args.big))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
