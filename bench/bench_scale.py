"""Ingest throughput with 1, 2 and 4 `recstore serve` processes, and where the CPU goes.

Run from the repository root:  .venv/bin/python bench/bench_scale.py [--rounds 3] [--requests N]

Starts the embedded PostgreSQL + SeaweedFS and four `recstore serve` processes on their own
ports; this process is the load balancer and the client: it spreads signed uploads of
30-second voicemails (480 kB WAV) round-robin over the first 1, 2 or 4 of them, 16 in flight,
and, separately, signed Twilio recording callbacks (the webhook acknowledgement; the fetch
itself is the worker's, not run here), 100 in flight. Process counts are interleaved within
each round; each row gives the median and spread of the rounds. During each run it adds
up the CPU seconds of every process group (serve with its ffprobe children, PostgreSQL,
SeaweedFS, this client) and of the whole machine, so the table says who used the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import psutil
from benchstack import bench_settings, free_port, serve, wav_header

from ingest.twilio import compute_signature
from ingest.upload_signature import sign
from recstore.accounts.customers import create_customer
from recstore.accounts.providers import set_provider
from recstore.bootstrap import prepare_storage
from recstore.devstack.stack import EmbeddedStack
from recstore.services import open_services

PROCESSES = (1, 2, 4)
VOICEMAIL = wav_header(480_000 - 44) + bytes(480_000 - 44)
DIGEST = hashlib.sha256(VOICEMAIL).hexdigest()
TWILIO_TOKEN = "bench-auth-token"


def groups(stack_dir: str) -> dict[str, list[psutil.Process]]:
    """The processes of this benchmark, by what they are (PostgreSQL daemonizes, so it is
    found by its data directory)."""
    found: dict[str, list[psutil.Process]] = {"client": [psutil.Process()]}
    for child in psutil.Process().children(recursive=True):
        try:
            name, cmd = child.name(), " ".join(child.cmdline())
        except psutil.Error:
            continue
        group = "seaweedfs" if "weed" in name else "serve" if "serve" in cmd else None
        if group:
            found.setdefault(group, []).append(child)
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and stack_dir in " ".join(
                process.info["cmdline"] or []):
            found["postgres"] = [process, *process.children()]
    return found


def cpu_seconds(stack_dir: str) -> dict[str, float]:
    """CPU seconds so far per group; serve includes its reaped ffprobe children."""
    totals: dict[str, float] = {}
    for group, processes in groups(stack_dir).items():
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            totals[group] = totals.get(group, 0.0) + times.user + times.system
            if group == "serve":
                totals[group] += times.children_user + times.children_system
    machine = psutil.cpu_times()
    totals["machine"] = machine.user + machine.system + machine.nice + getattr(machine, "irq", 0) \
        + getattr(machine, "softirq", 0)
    return totals


async def uploads(http: aiohttp.ClientSession, bases: list[str], customer_id: UUID,
                  secret: str, count: int, tag: str) -> float:
    queue = iter(range(count))

    async def sender() -> None:
        for n in queue:
            headers = {"Content-Type": "audio/wav", "Idempotency-Key": f"{tag}-{n}"}
            ts = int(time.time())
            headers.update({"X-Recstore-Timestamp": str(ts), "X-Recstore-Content-SHA256": DIGEST,
                            "X-Recstore-Signature": sign(secret, ts, customer_id, DIGEST,
                                                         headers)})
            base = bases[n % len(bases)]
            try:
                async with http.post(f"{base}/webhooks/upload/{customer_id}", data=VOICEMAIL,
                                     headers=headers) as response:
                    await response.read()
                    stored[response.status == 201] += 1
            except aiohttp.ClientError:  # refused mid-body (a timeout under load): counted
                stored[False] += 1

    stored = {True: 0, False: 0}
    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(16)))
    if stored[False]:
        print(f"{stored[False]} of {count} uploads failed", file=sys.stderr, flush=True)
    return stored[True] / (time.perf_counter() - started)


async def callbacks(http: aiohttp.ClientSession, bases: list[str], customer_id: UUID,
                    count: int, tag: str) -> float:
    prepared = []
    for n in range(count):
        base = bases[n % len(bases)]
        url = f"{base}/webhooks/twilio/{customer_id}"
        sid = f"RE{int(tag):04x}{n:028x}"
        params = {"AccountSid": "AC" + "0" * 32, "CallSid": f"CA{n:032x}", "RecordingSid": sid,
                  "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}"
                                  f"/Recordings/{sid}",
                  "RecordingStatus": "completed", "RecordingDuration": "30",
                  "RecordingChannels": "1", "RecordingSource": "DialVerb",
                  "RecordingStartTime": "Wed, 25 Nov 2026 10:00:00 +0000"}
        headers = {"X-Twilio-Signature": compute_signature(TWILIO_TOKEN, url, params.items()),
                   "Content-Type": "application/x-www-form-urlencoded"}
        from urllib.parse import urlencode
        prepared.append((url, urlencode(params).encode(), headers))
    queue = iter(prepared)

    async def sender() -> None:
        for url, body, headers in queue:
            async with http.post(url, data=body, headers=headers) as response:
                assert response.status == 204, await response.text()

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(100)))
    return count / (time.perf_counter() - started)


async def run(rounds: int, requests: int) -> dict[str, Any]:
    figures: dict[tuple[str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStack(Path(tmp) / "stack") as info:
        settings = bench_settings(info, Path(tmp))
        await prepare_storage(settings)
        async with open_services(settings) as svc, svc.pool.acquire() as conn:
            customer = await create_customer(conn, svc.keys, name="Scale AB",
                                             email="scale@bench.example")
            await set_provider(conn, svc.keys, customer.customer_id, "twilio",
                               {"account_sid": "AC" + "0" * 32, "auth_token": TWILIO_TOKEN})
        ports = [free_port() for _ in range(max(PROCESSES))]
        servers = [await serve(settings, port) for port in ports]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            connector = aiohttp.TCPConnector(limit=200)
            async with aiohttp.ClientSession(connector=connector) as http:
                await uploads(http, bases, customer.customer_id, customer.webhook_secret, 32,
                              "warm")
                for r in range(rounds):
                    for n in PROCESSES:
                        for case in ("upload", "callback"):
                            before = cpu_seconds(str(info.data_dir))
                            started = time.perf_counter()
                            tag = f"{r}-{n}-{case}"
                            if case == "upload":
                                rate = await uploads(http, bases[:n], customer.customer_id,
                                                     customer.webhook_secret, requests // 4,
                                                     tag)
                            else:
                                rate = await callbacks(http, bases[:n], customer.customer_id,
                                                       requests, f"{r + 1}{n}")
                            wall = time.perf_counter() - started
                            after = cpu_seconds(str(info.data_dir))
                            cores = {g: (after.get(g, 0) - before.get(g, 0)) / wall
                                     for g in after}
                            print(f"round {r + 1}, {n} serve, {case}: {rate:.0f}/s",
                                  file=sys.stderr, flush=True)
                            figures.setdefault((case, n), []).append({"rate": rate, **cores})
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                await server.wait()
    return {"figures": figures}


def table(results: dict[str, Any]) -> str:
    lines = ["| work | serve processes | per second, median (min to max) | cores used: serve "
             "(with ffprobe) | PostgreSQL | SeaweedFS | client | whole machine |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for (case, n), runs in results["figures"].items():
        rates = [run["rate"] for run in runs]
        work = ("signed uploads, 480 kB voicemail" if case == "upload"
                else "Twilio callbacks acknowledged")

        def cores(group: str, found: list[dict[str, float]] = runs) -> str:
            return f"{statistics.median([run.get(group, 0.0) for run in found]):.2f}"

        lines.append(f"| {work} | {n} | {statistics.median(rates):.0f} ({min(rates):.0f} to "
                     f"{max(rates):.0f}) | {cores('serve')} | {cores('postgres')} | "
                     f"{cores('seaweedfs')} | {cores('client')} | {cores('machine')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000,
                        help="callbacks per run; uploads are a quarter of it")
    args = parser.parse_args()
    print(table(asyncio.run(run(args.rounds, args.requests))))


if __name__ == "__main__":
    main()
