"""bench_scale's worker half: a Twilio-like provider on loopback, `recstore worker --role fetch`
processes, and a backlog of acknowledged callbacks for them to drain.

The provider is reached the way the tests reach their fakes: each customer's `api_base` names
it (`set_provider(..., api_base=...)`, the CLI's `--api-base`), the one supported exemption
from the fetch guard's loopback refusal. Nothing about the guard is changed for the bench.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import urlencode
from uuid import UUID

import asyncpg
from aiohttp import web
from benchstack import ROOT, serve_env, until_healthy

from ingest.twilio import compute_signature
from recstore.settings import Settings

ACCOUNT = "AC" + "b2" * 16
TOKEN = "bench-provider-token"
STALL_SECONDS = 60.0  # no job finished for this long: the run is broken, not slow


@dataclass
class Provider:
    """Twilio's recording and call resources, answering for any sid with the same audio."""

    audio: bytes
    base: str = ""

    def _authorized(self, request: web.Request) -> bool:
        token = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {token}"

    async def recording(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401)
        return web.Response(body=self.audio, content_type="audio/x-wav")

    async def call(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401)
        started = datetime.now(UTC) - timedelta(minutes=5)
        return web.json_response({"sid": request.match_info["call"], "from": "+46701234567",
                                  "to": "+46812345678", "start_time": format_datetime(started)})

    async def start(self, port: int) -> web.AppRunner:
        app = web.Application()
        root = "/2010-04-01/Accounts/{account}"
        app.router.add_get(root + "/Recordings/{sid}", self.recording)
        app.router.add_get(root + "/Calls/{call}.json", self.call)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.base = f"http://127.0.0.1:{port}"
        return runner


def callback(provider_base: str, serve_base: str, customer_id: UUID, sid: str, call: str
             ) -> tuple[str, bytes, dict[str, str]]:
    """A signed recording status callback, as Twilio sends it (no caller: the worker looks
    the call up)."""
    url = f"{serve_base}/webhooks/twilio/{customer_id}"
    params = {"AccountSid": ACCOUNT, "CallSid": call, "RecordingSid": sid,
              "RecordingUrl": f"{provider_base}/2010-04-01/Accounts/{ACCOUNT}/Recordings/{sid}",
              "RecordingStatus": "completed", "RecordingDuration": "30",
              "RecordingChannels": "1", "RecordingSource": "DialVerb",
              "RecordingStartTime": format_datetime(datetime.now(UTC) - timedelta(minutes=5))}
    headers = {"X-Twilio-Signature": compute_signature(TOKEN, url, params.items()),
               "Content-Type": "application/x-www-form-urlencoded"}
    return url, urlencode(params).encode(), headers


async def start_worker(settings: Settings, metrics_port: int) -> asyncio.subprocess.Process:
    """`recstore worker --role fetch`, once its /healthz (on the metrics port) answers."""
    env = serve_env(settings, 0, RECSTORE_METRICS_PORT=str(metrics_port),
                    RECSTORE_INGEST_POLL_SECONDS="0.2")  # idle poll: a run starts within 0.2 s
    process = await asyncio.create_subprocess_exec(
        str(ROOT / ".venv/bin/recstore"), "worker", "--role", "fetch", env=env)
    return await until_healthy(process, metrics_port, "recstore worker")


async def stop(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            process.terminate()
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), timeout=15)
        except TimeoutError:
            process.kill()
            await process.wait()


async def park(conn: asyncpg.Connection, customers: list[UUID]) -> None:
    """Queued jobs of these customers wait until `unpark`: workers see none of them."""
    await conn.execute("UPDATE ingest_jobs SET run_after = 'infinity' WHERE status = 'queued'"
                       " AND customer_id = ANY($1::uuid[])", customers)


async def unpark(conn: asyncpg.Connection, customers: list[UUID]) -> None:
    await conn.execute("UPDATE ingest_jobs SET run_after = now() WHERE status = 'queued'"
                       " AND customer_id = ANY($1::uuid[])", customers)


async def drain(conn: asyncpg.Connection, customers: list[UUID], count: int
                ) -> tuple[float, int]:
    """Unpark the backlog, wait until all `count` jobs finished; (seconds taken, dead jobs)."""
    query = ("SELECT count(*) FILTER (WHERE status = 'done') AS done,"
             " count(*) FILTER (WHERE status = 'dead') AS dead FROM ingest_jobs"
             " WHERE customer_id = ANY($1::uuid[]) AND status IN ('done', 'dead')")
    before = await conn.fetchrow(query, customers)
    await unpark(conn, customers)
    started = last_progress = time.perf_counter()
    finished = 0
    while finished < count:
        await asyncio.sleep(0.1)
        row = await conn.fetchrow(query, customers)
        now_finished = row["done"] + row["dead"] - before["done"] - before["dead"]
        if now_finished > finished:
            finished, last_progress = now_finished, time.perf_counter()
        elif time.perf_counter() - last_progress > STALL_SECONDS:
            raise RuntimeError(f"workers stalled at {finished} of {count} jobs")
    row = await conn.fetchrow(query, customers)
    return time.perf_counter() - started, row["dead"] - before["dead"]
