"""Ingest throughput with 1, 2 and 4 `recstore serve` and `recstore worker` processes, and
where the CPU goes.

Run from the repository root:  .venv/bin/python bench/bench_scale.py [--rounds 3] [--requests N]

Starts the embedded PostgreSQL + SeaweedFS and four `recstore serve` processes on their own
ports; this process is the load balancer and the client: it spreads signed uploads of
30-second voicemails (480 kB WAV) round-robin over the first 1, 2 or 4 of them, 16 in flight,
and, separately, signed Twilio recording callbacks (the webhook acknowledgement only), 100 in
flight.

Then the worker half (bench/fetchbench.py): this process also plays Twilio on loopback. The
first serve process acknowledges a backlog of signed callbacks (half of --requests,
spread over 8 customers, so no one customer's audit lock is what is measured), then 1, 2 or 4
`recstore worker --role fetch` processes drain it: each job looks the call up, fetches the
480 kB WAV from the provider, probes, encrypts and stores it. The backlog is held back until
every worker is up, so the clock starts with all of them idle. Acknowledged-only callbacks of
the serve runs are held back for good, so the workers drain nothing else.

Process counts are interleaved within each round; each row gives the median and spread of
the rounds. During each run it adds up the CPU seconds of every process group (serve or
worker with their ffprobe children, PostgreSQL, SeaweedFS, this client, which is also the
provider) and of the whole machine, so the table says who used the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import asyncpg
import fetchbench
import psutil
from benchstack import bench_settings, free_port, serve, wav_header

from ingest.twilio import compute_signature
from ingest.upload_signature import signed_headers
from recstore.accounts.customers import create_customer
from recstore.accounts.providers import set_provider
from recstore.bootstrap import prepare_storage
from recstore.devstack.stack import EmbeddedStack
from recstore.services import open_services
from recstore.settings import Settings

PROCESSES = (1, 2, 4)
VOICEMAIL = wav_header(480_000 - 44) + bytes(480_000 - 44)
DIGEST = hashlib.sha256(VOICEMAIL).hexdigest()
TWILIO_TOKEN = "bench-auth-token"
FETCH_CUSTOMERS = 8


def groups(stack_dir: str) -> dict[str, list[psutil.Process]]:
    """The processes of this benchmark, by what they are (PostgreSQL daemonizes, so it is
    found by its data directory)."""
    found: dict[str, list[psutil.Process]] = {"client": [psutil.Process()]}
    for child in psutil.Process().children(recursive=True):
        try:
            name, argv = child.name(), child.cmdline()
        except psutil.Error:
            continue
        # `python .venv/bin/recstore serve` (or worker): the word after the script
        command = next((argv[i + 1] for i, arg in enumerate(argv[:-1])
                        if arg.endswith("/recstore")), "")
        group = "seaweedfs" if "weed" in name else command if command in (
            "serve", "worker") else None
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
            if group in ("serve", "worker"):
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
            headers = signed_headers(secret, customer_id, body_sha256=DIGEST,
                                     timestamp=int(time.time()),
                                     headers={"Content-Type": "audio/wav",
                                              "Idempotency-Key": f"{tag}-{n}"})
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


@asynccontextmanager
async def svc_conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        yield conn
    finally:
        await conn.close()


async def fetch_run(http: aiohttp.ClientSession, conn: asyncpg.Connection, settings: Settings,
                    serve_base: str, provider_base: str, customers: list[UUID], workers: int,
                    count: int, tag: str, stack_dir: str) -> tuple[float, dict[str, float]]:
    """Acknowledge `count` callbacks, then time `workers` fetch workers draining them."""
    for n in range(count):
        url, body, headers = fetchbench.callback(
            provider_base, serve_base, customers[n % len(customers)],
            f"RE{int(tag):04x}{n:028x}", f"CA{int(tag):04x}{n:028x}")
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 204, await response.text()
    await fetchbench.park(conn, customers)
    processes: list[asyncio.subprocess.Process] = []
    try:
        for _ in range(workers):
            processes.append(await fetchbench.start_worker(settings, free_port()))
        before = cpu_seconds(stack_dir)
        seconds, dead = await fetchbench.drain(conn, customers, count)
        after = cpu_seconds(stack_dir)
    finally:
        await fetchbench.stop(processes)
    if dead:
        print(f"{dead} of {count} fetch jobs dead", file=sys.stderr, flush=True)
    cores = {g: (after.get(g, 0) - before.get(g, 0)) / seconds for g in after}
    return (count - dead) / seconds, cores


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
            provider = fetchbench.Provider(VOICEMAIL)
            provider_runner = await provider.start(free_port())
            fetchers = []
            for i in range(FETCH_CUSTOMERS):
                made = await create_customer(conn, svc.keys, name=f"Fetch {i} AB",
                                             email=f"fetch{i}@bench.example")
                await set_provider(conn, svc.keys, made.customer_id, "twilio",
                                   {"account_sid": fetchbench.ACCOUNT,
                                    "auth_token": fetchbench.TOKEN}, api_base=provider.base)
                fetchers.append(made.customer_id)
        ports = [free_port() for _ in range(max(PROCESSES))]
        servers = [await serve(settings, port) for port in ports]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            connector = aiohttp.TCPConnector(limit=200)
            async with aiohttp.ClientSession(connector=connector) as http, \
                    svc_conn(settings) as conn:
                await uploads(http, bases, customer.customer_id, customer.webhook_secret, 32,
                              "warm")
                for r in range(rounds):
                    for n in PROCESSES:
                        for case in ("upload", "callback", "fetch"):
                            if case == "fetch":
                                rate, cores = await fetch_run(
                                    http, conn, settings, bases[0], provider.base, fetchers,
                                    n, requests // 2, f"{r + 1}{n}", str(info.data_dir))
                                print(f"round {r + 1}, {n} worker, fetch: {rate:.0f}/s",
                                      file=sys.stderr, flush=True)
                                figures.setdefault((case, n), []).append({"rate": rate, **cores})
                                continue
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
                                await fetchbench.park(conn, [customer.customer_id])
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
            await provider_runner.cleanup()
    return {"figures": figures}


WORK = {"upload": "signed uploads, 480 kB voicemail", "callback": "Twilio callbacks acknowledged",
        "fetch": "Twilio jobs fetched and stored, 480 kB"}


def table(results: dict[str, Any]) -> str:
    """Two tables in the same style: serve processes, then worker processes."""
    heads = {"serve": ("| work | serve processes | per second, median (min to max) | cores used: "
                       "serve (with ffprobe) | PostgreSQL | SeaweedFS | client | whole machine |"),
             "worker": ("| work | worker processes | jobs stored per second, median (min to max) |"
                        " cores used: worker (with ffprobe) | PostgreSQL | SeaweedFS |"
                        " client and provider | whole machine |")}
    out = []
    for group, head in heads.items():
        lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for (case, n), runs in results["figures"].items():
            if (case == "fetch") != (group == "worker"):
                continue
            rates = [run["rate"] for run in runs]

            def cores(name: str, found: list[dict[str, float]] = runs) -> str:
                return f"{statistics.median([run.get(name, 0.0) for run in found]):.2f}"

            lines.append(f"| {WORK[case]} | {n} | {statistics.median(rates):.0f} "
                         f"({min(rates):.0f} to {max(rates):.0f}) | {cores(group)} | "
                         f"{cores('postgres')} | {cores('seaweedfs')} | {cores('client')} | "
                         f"{cores('machine')} |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000,
                        help="callbacks per run; uploads are a quarter of it, fetch jobs half")
    args = parser.parse_args()
    print(table(asyncio.run(run(args.rounds, args.requests))))


if __name__ == "__main__":
    main()
