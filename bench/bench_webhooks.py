"""Webhook acknowledgement: latency and throughput of signed Twilio recording callbacks,
against the same aiohttp app answering a bare 204 in the same run (the ceiling).

Run from the repository root:  .venv/bin/python bench/bench_webhooks.py [--requests N]

Starts the embedded PostgreSQL + S3 in a temporary directory, creates a customer with a
Twilio account, and serves the real app (create_app: problem middleware, metrics, routes)
in a separate process on loopback, with one extra route, POST /bench/bare, that answers 204
and does nothing else. The load generator (this process) posts N requests per run with C
concurrent senders over keep-alive connections, for C in 50, 200 and 500, bare and Twilio
interleaved; then bare and Twilio offered at a fixed 1000/s and 2000/s (open loop, at most
500 in flight); all of it --rounds times, each row the median and spread of the rounds.
Every Twilio callback is a distinct recording, signed beforehand, so the
timed part is the server's work: parse, look up the account, unwrap the auth token, check
X-Twilio-Signature, wrap the personal fields, INSERT the job, answer 204. No worker runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

LEVELS = (50, 200, 500)
RATES = (1000, 2000)


# -- server (a child process) -----------------------------------------------------------------

async def _serve() -> None:
    from aiohttp import web

    from recstore.app import create_app
    from recstore.services import open_services
    from recstore.settings import Settings

    async def bare(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    async with open_services(Settings()) as svc:  # type: ignore[call-arg]
        app = create_app(services=svc)
        app.router.add_post("/bench/bare", bare)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        host, port = runner.addresses[0][:2]
        print(f"http://{host}:{port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed
        await runner.cleanup()


# -- set-up -----------------------------------------------------------------------------------

def _env(info: Any, tmp: Path, master: str) -> dict[str, str]:
    from crypto import MasterKeyring
    from recstore.auth.tokens import generate_private_key_file
    from recstore.custody.staff_key import generate_staff_key_file

    jwt, staff_key = tmp / "jwt.pem", tmp / "staff.key"
    generate_private_key_file(jwt)
    generate_staff_key_file(staff_key)
    return {**os.environ, "RECSTORE_DATABASE_URL": info.database_url,
            "RECSTORE_INGEST_KEYS": MasterKeyring.generate_entry("bench-ingest"),
            "RECSTORE_STAFF_KEY_FILE": str(staff_key),
            "RECSTORE_S3_ENDPOINT": info.s3_endpoint, "RECSTORE_S3_ACCESS_KEY": info.s3_access_key,
            "RECSTORE_S3_SECRET_KEY": info.s3_secret_key, "RECSTORE_S3_BUCKET": "bench",
            "RECSTORE_MASTER_KEYS": master, "RECSTORE_EPOCH_KEYS_FILE": str(tmp / "epochs.json"),
            "RECSTORE_JWT_PRIVATE_KEY_FILE": str(jwt), "RECSTORE_LOG_LEVEL": "WARNING"}


async def _prepare(env: dict[str, str]) -> tuple[str, str]:
    from recstore.accounts.customers import create_customer
    from recstore.accounts.providers import set_provider
    from recstore.bootstrap import prepare_storage
    from recstore.services import open_services
    from recstore.settings import Settings

    settings = Settings.model_validate({k[len("RECSTORE_"):].lower(): v for k, v in env.items()
                                        if k.startswith("RECSTORE_")})
    await prepare_storage(settings)
    token = "bench-auth-token"
    async with open_services(settings, pool_size=2) as svc, svc.pool.acquire() as conn:
        customer = await create_customer(conn, svc.keys, name="Bench AB",
                                         email="bench@example.com")
        await set_provider(conn, svc.keys, customer.customer_id, "twilio",
                           {"account_sid": "AC" + "0" * 32, "auth_token": token})
    return str(customer.customer_id), token


# -- load -------------------------------------------------------------------------------------

def _twilio_requests(base: str, customer_id: str, token: str, count: int, offset: int
                     ) -> list[tuple[str, bytes, dict[str, str]]]:
    from ingest.twilio import compute_signature

    url = f"{base}/webhooks/twilio/{customer_id}"
    prepared = []
    for n in range(offset, offset + count):
        sid = f"RE{n:032x}"
        params = {"AccountSid": "AC" + "0" * 32, "CallSid": f"CA{n:032x}", "RecordingSid": sid,
                  "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}"
                                  f"/Recordings/{sid}",
                  "RecordingStatus": "completed", "RecordingDuration": "42",
                  "RecordingChannels": "1", "RecordingSource": "DialVerb",
                  "RecordingStartTime": "Wed, 25 Nov 2026 10:00:00 +0000"}
        headers = {"X-Twilio-Signature": compute_signature(token, url, params.items()),
                   "Content-Type": "application/x-www-form-urlencoded"}
        prepared.append((url, urlencode(params).encode(), headers))
    return prepared


async def _run(requests: list[tuple[str, bytes, dict[str, str]]], senders: int
               ) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = iter(requests)
    connector = aiohttp.TCPConnector(limit=senders, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def sender() -> None:
            for url, body, headers in queue:
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                latencies.append(time.perf_counter() - started)
                statuses[response.status] = statuses.get(response.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {"requests": len(latencies), "per_s": len(latencies) / elapsed,
            "p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000, "statuses": statuses}


async def _run_at_rate(requests: list[tuple[str, bytes, dict[str, str]]], rate: float,
                       senders: int) -> dict[str, Any]:
    """Open loop: request i is due at i/rate; latency counts from when it was due, so a
    server falling behind shows up in the figures (no coordinated omission)."""
    latencies: list[float] = []
    slots = asyncio.Semaphore(senders)
    connector = aiohttp.TCPConnector(limit=senders)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(due: float, url: str, body: bytes, headers: dict[str, str]) -> None:
            async with slots, session.post(url, data=body, headers=headers) as response:
                await response.read()
                assert response.status == 204
            latencies.append(time.perf_counter() - due)

        tasks = []
        start = time.perf_counter()
        for i, request in enumerate(requests):  # each started when due, not all up front
            due = start + i / rate
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(due, *request)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100)
    return {"requests": len(latencies), "per_s": len(latencies) / elapsed,
            "p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000}


async def _load(base: str, customer_id: str, token: str, count: int, rounds: int
                ) -> list[dict[str, Any]]:
    """Every case `rounds` times, bare and Twilio interleaved; median and spread of each."""
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    offset = 0

    def twilio(n: int) -> list[tuple[str, bytes, dict[str, str]]]:
        nonlocal offset
        offset += n
        return _twilio_requests(base, customer_id, token, n, offset - n)

    await _run(twilio(500), 50)  # pools, caches and connections warm
    for _ in range(rounds):
        for senders in LEVELS:
            bare = [(f"{base}/bench/bare", body, headers) for _, body, headers in twilio(count)]
            for name, requests in (("bare 204", bare), ("twilio", twilio(count))):
                result = await _run(requests, senders)
                print(json.dumps({"run": name, "senders": senders, **result}), flush=True)
                runs.setdefault((name, senders), []).append(result)
        for rate in RATES:
            twilios = twilio(rate * 5)
            bare = [(f"{base}/bench/bare", body, headers) for _, body, headers in twilio(rate * 5)]
            for name, requests in ((f"bare 204 at {rate}/s", bare),
                                   (f"twilio at {rate}/s", twilios)):
                result = await _run_at_rate(requests, rate, 500)
                print(json.dumps({"run": name, **result}), flush=True)
                runs.setdefault((name, 500), []).append(result)
    results = []
    for (name, senders), found in runs.items():
        row: dict[str, Any] = {"run": name, "senders": senders, "rounds": len(found)}
        for figure in ("per_s", "p50_ms", "p99_ms"):
            values = [r[figure] for r in found]
            row[figure] = statistics.median(values)
            row[f"{figure}_spread"] = (min(values), max(values))
        results.append(row)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=6000, help="per run (default 6000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return

    from crypto import MasterKeyring
    from recstore.devstack.stack import EmbeddedStack

    with tempfile.TemporaryDirectory() as tmp, EmbeddedStack(Path(tmp) / "stack") as info:
        env = _env(info, Path(tmp), MasterKeyring.generate_entry("bench-1"))
        customer_id, token = asyncio.run(_prepare(env))
        server = subprocess.Popen([sys.executable, __file__, "--serve"], env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            base = server.stdout.readline().strip()
            results = asyncio.run(_load(base, customer_id, token, args.requests, args.rounds))
        finally:
            if server.stdin:
                server.stdin.close()
            server.wait(timeout=30)

    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}; "
          f"{args.requests} requests per closed-loop run, median (min to max) of "
          f"{args.rounds} interleaved rounds\n")
    print("| senders | run | acknowledged/s | p50 ms | p99 ms | of bare 204 |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    ceiling = {r["senders"]: r["per_s"] for r in results if r["run"] == "bare 204"}

    def cell(r: dict[str, Any], figure: str) -> str:
        low, high = r[f"{figure}_spread"]
        return f"{r[figure]:.0f} ({low:.0f} to {high:.0f})" if figure == "per_s" else \
            f"{r[figure]:.1f} ({low:.1f} to {high:.1f})"

    for r in results:
        share = f"{r['per_s'] / ceiling[r['senders']] * 100:.0f} %" if r["run"] == "twilio" else ""
        print(f"| {r['senders']} | {r['run']} | {cell(r, 'per_s')} | {cell(r, 'p50_ms')} | "
              f"{cell(r, 'p99_ms')} | {share} |")


if __name__ == "__main__":
    main()
