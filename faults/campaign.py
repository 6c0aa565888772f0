"""One fault campaign: set up a stack and processes, run the load while the faults of the
plan happen, retry what failed, wait for the system to settle, and check every promise.

Traffic goes to 127.0.0.1 only; every loop is bounded in count and in time."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # provider_fakes: the fake Twilio API

from faults.load import Load, Target, sha256, summary  # noqa: E402
from faults.processes import Managed, Supervisor, free_port, process_env  # noqa: E402


@dataclass(frozen=True)
class Plan:
    load_seconds: float
    rate: float                 # new deliveries per second
    s3_at: float                # seconds into the load
    s3_stall_seconds: float     # first frozen (SIGSTOP: accepts, never answers) ...
    s3_down_seconds: float      # ... then stopped, then started again on the same port
    pg_at: float                # PostgreSQL restarted (fast shutdown, start)
    kill_from: float            # SIGKILL a random serve/worker process every kill_every s
    kill_every: float
    api_processes: int = 2
    workers: int = 2
    janitor_grace_seconds: float = 20.0
    settle_seconds: float = 120.0  # bound on waiting for jobs and cleanups afterwards


# Kills run from kill_from to the end, through the outages too. weed needs 8-10 s to serve
# again after its start, which comes on top of s3_down_seconds.
SHORT = Plan(load_seconds=24, rate=5, s3_at=1, s3_stall_seconds=2, s3_down_seconds=3, pg_at=15,
             kill_from=6, kill_every=3, api_processes=2, workers=1, janitor_grace_seconds=8)
FULL = Plan(load_seconds=150, rate=10, s3_at=10, s3_stall_seconds=5, s3_down_seconds=25,
            pg_at=70, kill_from=20, kill_every=5, janitor_grace_seconds=30)


@dataclass
class Report:
    plan: dict[str, Any]
    seed: int
    first_answers: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, Any] = field(default_factory=dict)
    kills: int = 0
    readyz_during_s3_stall: list[float] = field(default_factory=list)  # seconds per probe
    readyz_status_during_stall: list[int] = field(default_factory=list)
    server_errors: int = 0          # any 500: must be 0
    recordings: int = 0
    objects: int = 0
    pending_uploads: int = -1
    dead_jobs: int = -1
    objects_left_to_janitor: int = 0  # objects without row or pending entry once jobs drained
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


async def _serve_fake(audio: bytes) -> tuple[Any, web.AppRunner]:
    from provider_fakes import FakeProvider

    fake = FakeProvider(audio)
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.base = f"http://127.0.0.1:{port}"
    return fake, runner


async def _probe_readyz(port: int, report: Report, until: float) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    report.readyz_status_during_stall.append(response.status)
            except (aiohttp.ClientError, TimeoutError):
                report.readyz_status_during_stall.append(0)
            report.readyz_during_s3_stall.append(round(time.monotonic() - started, 3))
            await asyncio.sleep(0.3)


async def _outages(plan: Plan, stack: Any, supervisor: Supervisor, report: Report,
                   started: float) -> None:
    async def at(offset: float) -> None:
        await asyncio.sleep(max(0.0, started + offset - time.monotonic()))

    await at(plan.s3_at)
    weed = stack.weed_pid
    os.killpg(weed, signal.SIGSTOP)  # a stalled S3: connections accepted, nothing answered
    await _until_stopped(weed)
    try:
        await _probe_readyz(supervisor.api_ports[0], report,
                            time.monotonic() + plan.s3_stall_seconds)
    finally:
        os.killpg(weed, signal.SIGKILL)  # then it dies: stopped, not shut down politely
        os.killpg(weed, signal.SIGCONT)
    await asyncio.to_thread(stack.stop_s3)
    await asyncio.sleep(plan.s3_down_seconds)
    await asyncio.to_thread(stack.start_s3)  # same data dir, same port

    await at(plan.pg_at)
    await asyncio.to_thread(stack.restart_postgres)


async def _until_stopped(pid: int, within: float = 5.0) -> None:
    """SIGSTOP takes effect when the kernel next schedules each thread: on a busy machine a
    request can still be answered right after kill() returns, so wait until it holds."""
    import psutil

    for _ in range(int(within / 0.01)):  # bounded
        if psutil.Process(pid).status() == psutil.STATUS_STOPPED:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # the last threads of the group


async def _kills(plan: Plan, supervisor: Supervisor, report: Report, started: float) -> None:
    await asyncio.sleep(max(0.0, started + plan.kill_from - time.monotonic()))
    while time.monotonic() < started + plan.load_seconds - plan.kill_every / 2:
        await supervisor.kill_one()
        report.kills += 1
        await asyncio.sleep(plan.kill_every)


async def run(plan: Plan, *, seed: int | None = None, work_dir: Path | None = None) -> Report:
    from crypto import MasterKeyring
    from recstore.accounts.customers import create_customer, create_user
    from recstore.accounts.providers import set_provider
    from recstore.auth.tokens import generate_private_key_file
    from recstore.custody.staff_key import generate_staff_key_file
    from recstore.devstack.demo import synthetic_voicemail
    from recstore.devstack.stack import APP_ROLE, EmbeddedStack, as_role, create_database
    from recstore.services import open_services
    from recstore.settings import Settings

    seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    report = Report(plan=asdict(plan), seed=seed)
    began = time.monotonic()
    work = work_dir or Path(tempfile.mkdtemp(prefix="recstore-faults-"))
    work.chmod(0o755)  # pgserver (as root) runs PostgreSQL as its own user
    stack = EmbeddedStack(work / "stack")
    info = await asyncio.to_thread(stack.start)
    supervisor: Supervisor | None = None
    runner: web.AppRunner | None = None
    try:
        owner_dsn = await asyncio.to_thread(create_database, info, "faults")
        jwt_key, staff_key = work / "jwt.pem", work / "staff.key"
        generate_private_key_file(jwt_key)
        generate_staff_key_file(staff_key)
        env = {
            "RECSTORE_DATABASE_URL": as_role(owner_dsn, APP_ROLE),
            "RECSTORE_ADMIN_DATABASE_URL": owner_dsn,
            "RECSTORE_S3_ENDPOINT": info.s3_endpoint,
            "RECSTORE_S3_ACCESS_KEY": info.s3_access_key,
            "RECSTORE_S3_SECRET_KEY": info.s3_secret_key,
            "RECSTORE_S3_BUCKET": "faults", "RECSTORE_S3_REGION": "eu-north-1",
            "RECSTORE_MASTER_KEYS": MasterKeyring.generate_entry("faults-1"),
            "RECSTORE_INGEST_KEYS": MasterKeyring.generate_entry("faults-ingest-1"),
            "RECSTORE_STAFF_KEY_FILE": str(staff_key),
            "RECSTORE_AUDIT_KEYS_FILE": str(work / "audit-keys.json"),
            "RECSTORE_EPOCH_KEYS_FILE": str(work / "epochs.json"),
            "RECSTORE_JWT_PRIVATE_KEY_FILE": str(jwt_key),
            "RECSTORE_LOG_LEVEL": "WARNING",
            "RECSTORE_INGEST_LEASE_SECONDS": "5",
            "RECSTORE_INGEST_POLL_SECONDS": "0.2",
            "RECSTORE_INGEST_BACKOFF_BASE_SECONDS": "0.5",
            "RECSTORE_INGEST_BACKOFF_MAX_SECONDS": "3",
            "RECSTORE_INGEST_MAX_ATTEMPTS": "50",  # outages must never exhaust a job
            "RECSTORE_RETENTION_JANITOR_INTERVAL_SECONDS": "3",
            "RECSTORE_RETENTION_JANITOR_GRACE_SECONDS": str(plan.janitor_grace_seconds),
        }
        migrate = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "recstore"), "migrate", "--json",
            env=process_env(env), stdout=asyncio.subprocess.DEVNULL)
        if await migrate.wait() != 0:
            raise RuntimeError("recstore migrate failed")
        fields = {k.removeprefix("RECSTORE_").lower(): v for k, v in env.items()}
        settings = Settings.model_validate({k: v for k, v in fields.items()
                                            if k in Settings.model_fields})
        audio = synthetic_voicemail(0.5, 440.0)
        fake, runner = await _serve_fake(audio)
        from provider_fakes import CREDENTIALS, TWILIO_TOKEN

        async with open_services(settings, pool_size=4) as svc:
            async with svc.pool.acquire() as conn:
                customer = await create_customer(conn, svc.keys, name="Faults AB",
                                                 email="ops@faults.example")
                user_id = await create_user(conn, customer_id=customer.customer_id,
                                            email="user@faults.example",
                                            password="a long fault password", role="customer_user")
                await set_provider(conn, svc.keys, customer.customer_id, "twilio",
                                   CREDENTIALS["twilio"], api_base=fake.base)
            logs = work / "logs"
            logs.mkdir(exist_ok=True)
            processes = [Managed(f"serve-{i}", "serve", process_env(env), logs / f"serve-{i}.log",
                                 port=free_port()) for i in range(plan.api_processes)]
            processes += [Managed(f"worker-{i}", "worker", process_env(env),
                                  logs / f"worker-{i}.log") for i in range(plan.workers)]
            supervisor = Supervisor(processes, rng=rng)
            await supervisor.start_all()

            target = Target(customer.customer_id, customer.webhook_secret, TWILIO_TOKEN, fake.base)
            load = Load(target, supervisor.api_ports, rng)
            started = time.monotonic()
            stop = asyncio.Event()
            keeper = asyncio.create_task(supervisor.keep_alive(stop))
            faults = [asyncio.create_task(_outages(plan, stack, supervisor, report, started)),
                      asyncio.create_task(_kills(plan, supervisor, report, started))]
            await load.run(plan.load_seconds, plan.rate)
            await asyncio.gather(*faults)
            stop.set()
            await keeper
            report.first_answers = load.first_answers()

            await supervisor.wait_ready(60)  # nobody restarted anything by hand but the killed
            await load.retry_failed()
            report.deliveries = summary(load.deliveries)
            report.server_errors = sum(a == "500" for d in load.deliveries for a in d.answers)
            await _settle(svc, plan, report)
            headers = {"Authorization": "Bearer " + svc.tokens.issue(
                user_id, "customer_user", customer.customer_id)}
            await _check(svc, load, audio, supervisor.api_ports[0], headers, report)
    finally:
        if supervisor is not None:
            await supervisor.stop_all()
        if runner is not None:
            await runner.cleanup()
        await asyncio.to_thread(stack.stop)
    report.seconds = round(time.monotonic() - began, 1)
    return report


async def _settle(svc: Any, plan: Plan, report: Report) -> None:
    """Wait (bounded) until every job is finished and no pending upload is left."""
    deadline = time.monotonic() + plan.settle_seconds + plan.janitor_grace_seconds
    while time.monotonic() < deadline:
        busy = await svc.pool.fetchval(
            "SELECT count(*) FROM ingest_jobs WHERE status IN ('queued', 'running')")
        pending = await svc.pool.fetchval("SELECT count(*) FROM pending_uploads")
        if busy == 0 and pending == 0:
            break
        await asyncio.sleep(1)
    # An upload whose process was killed after its pending entry went (the janitor took it
    # from a writer slower than the grace period, whose commit then failed) leaves an object
    # with neither row nor entry: the janitor's sweep removes it once it is older than the
    # grace period. Wait for that too (bounded by the same deadline); the check below still
    # fails on any object left after it.
    left = await _unaccounted_objects(svc)
    report.objects_left_to_janitor = left
    while left and time.monotonic() < deadline:
        await asyncio.sleep(1)
        left = await _unaccounted_objects(svc)
    report.pending_uploads = await svc.pool.fetchval("SELECT count(*) FROM pending_uploads")
    report.dead_jobs = await svc.pool.fetchval(
        "SELECT count(*) FROM ingest_jobs WHERE status <> 'done'")


async def _unaccounted_objects(svc: Any) -> int:
    keys = set(await svc.store.list_keys("recordings/"))
    known = {row["object_key"] for row in await svc.pool.fetch(
        "SELECT object_key FROM recordings UNION ALL SELECT object_key FROM pending_uploads")}
    return len(keys - known)


async def _check(svc: Any, load: Load, audio: bytes, port: int, headers: dict[str, str],
                 report: Report) -> None:
    fail = report.failures.append
    rows = await svc.pool.fetch("SELECT id, provider, provider_recording_id, object_key"
                                " FROM recordings")
    report.recordings = len(rows)
    by_key: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        by_key.setdefault((row["provider"], row["provider_recording_id"]), []).append(str(row["id"]))
    keys = set(await svc.store.list_keys("recordings/"))
    report.objects = len(keys)
    if keys != {row["object_key"] for row in rows}:
        fail(f"objects and rows differ: {len(keys)} objects, {len(rows)} rows")
    if report.pending_uploads:
        fail(f"{report.pending_uploads} pending_uploads rows left")
    if report.dead_jobs:
        fail(f"{report.dead_jobs} ingest jobs not done")
    if report.server_errors:
        fail(f"{report.server_errors} answers were 500")
    expected = {(("upload" if d.kind == "upload" else "twilio"), d.key) for d in load.deliveries}
    if set(by_key) != expected:
        fail(f"{len(expected - set(by_key))} deliveries without a recording,"
             f" {len(set(by_key) - expected)} recordings nobody delivered")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        gate = asyncio.Semaphore(8)

        async def readable(delivery: Any) -> None:
            ids = by_key.get((delivery.kind, delivery.key), [])
            if not delivery.ok:
                fail(f"{delivery.kind} {delivery.key} never succeeded: {delivery.answers}")
            if len(ids) != 1:
                fail(f"{delivery.kind} {delivery.key} has {len(ids)} recordings")
                return
            if delivery.recording_id is not None and delivery.recording_id != ids[0]:
                fail(f"upload {delivery.key} answered another id than the one stored")
            async with gate, http.get(f"http://127.0.0.1:{port}/api/v1/recordings/{ids[0]}/audio",
                                      headers=headers) as response:
                body = await response.read()
            want = delivery.body if delivery.kind == "upload" else audio
            if response.status != 200 or sha256(body) != sha256(want):
                fail(f"{delivery.kind} {delivery.key} is not readable intact ({response.status})")

        await asyncio.gather(*(readable(d) for d in load.deliveries))
    slow = [t for t in report.readyz_during_s3_stall if t >= 1.0]
    if slow:
        fail(f"/readyz took {max(slow)} s while S3 stalled (limit 1 s)")
    if any(status != 503 for status in report.readyz_status_during_stall):
        fail(f"/readyz answered {set(report.readyz_status_during_stall)} while S3 stalled")


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m faults")
    parser.add_argument("--short", action="store_true", help="the suite's short plan")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    plan = SHORT if args.short else FULL
    reports = []
    for i in range(args.runs):
        seed = None if args.seed is None else args.seed + i
        report = asyncio.run(run(plan, seed=seed))
        reports.append(report)
        print(json.dumps(report.as_dict()), flush=True)
    return 0 if all(r.ok for r in reports) else 1
