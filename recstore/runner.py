"""Running processes: the API server and the background loops, until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from aiohttp import web

from api.server import hardened_runner
from ingest.worker import run_ingest_worker
from recstore import audit_keys
from recstore.app import create_app, create_ops_app
from recstore.bootstrap import check_bucket_region
from recstore.checkpoint_delivery import run_checkpoint_delivery
from recstore.consent.jobs import run_consent_jobs
from recstore.custody import SERVE_CUSTODY, WORKER_CUSTODY, require
from recstore.custody.upkeep import key_upkeep_loop
from recstore.db import available_migrations, connects_as_owner
from recstore.errors import RecstoreError
from recstore.logging_setup import configure
from recstore.retention.scheduler import run_gauge_refresher, run_scheduler
from recstore.rights import erasure
from recstore.runtime.looplag import probe_loop_lag
from recstore.runtime.malloc_tuning import bound_malloc
from recstore.services import Services, key_service_for, open_services
from recstore.settings import Settings
from recstore.tls.policy import notify_links, preflight
from recstore.tls.server import ServerTLS, server_tls_for

log = logging.getLogger("recstore.runner")
ERASURE_RESUME_SECONDS = 60.0
T = TypeVar("T")


class NotMigrated(RecstoreError):
    title = "Database schema is not up to date"


async def require_schema(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        if await connects_as_owner(conn):
            log.warning("RECSTORE_DATABASE_URL connects as the schema owner or a superuser, "
                        "which can rewrite the access log: use the app role (docs/AUDIT.md)")
    except asyncpg.UndefinedTableError:
        applied = set()
    finally:
        await conn.close()
    if any(version not in applied for version, _, _ in available_migrations()):
        raise NotMigrated("run `recstore migrate` first")


def require_audit_keys(settings: Settings) -> None:
    """Load (or create) the checkpoint signing key now, so that a missing or unwritable key
    file stops start-up with its variable's name instead of failing access-log requests."""
    path = settings.audit_keys_path()
    try:
        audit_keys.current(path)
    except OSError as exc:
        raise audit_keys.AuditKeyFileInvalid(
            f"cannot read or create the audit signing key {path} ({type(exc).__name__}):"
            " set RECSTORE_AUDIT_KEYS_FILE or run `recstore keys init-audit`") from None


async def maintenance_loop(svc: Services, stop: asyncio.Event,
                           interval: float | None = None) -> None:
    """Retention, epoch destruction and janitor passes (RECSTORE_RETENTION_* tunes them); a
    failed pass is logged and retried next interval."""
    await run_scheduler(svc, stop, interval=interval)


async def erasure_loop(svc: Services, stop: asyncio.Event,
                       interval: float = ERASURE_RESUME_SECONDS) -> None:
    """Finishes account erasures whose process died mid-way (their lease has lapsed)."""
    while not stop.is_set():
        try:
            await erasure.resume_pending(svc.pool, svc.store)
        except Exception:
            log.exception("erasure resume pass failed; retrying next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def _reload_tls_on_sighup(tls: ServerTLS) -> None:
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, tls.reload)


async def _listen(svc: Services, app: web.Application, runners: list[web.AppRunner],
                  host: str, port: int, tls: ServerTLS | None) -> str:
    runner = hardened_runner(app, header_timeout=svc.settings.header_timeout_seconds)
    runners.append(runner)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls.context if tls else None)
    await site.start()
    bound = runner.addresses[0]
    return f"{'https' if tls else 'http'}://{bound[0]}:{bound[1]}"


async def run_services(svc: Services, *, api: bool, worker: bool, host: str, port: int,
                       stop: asyncio.Event,
                       on_ready: Callable[[str], Awaitable[None]] | None = None,
                       tls: ServerTLS | None = None,
                       serve_role: str = "all", worker_role: str = "all") -> None:
    """API (or, for a worker, the metrics port) and the loops until ``stop``; with ``tls`` the
    listener answers HTTPS only, reloading its certificate on SIGHUP and when the files change.
    `serve_role` picks the routes (recstore/custody.py), `worker_role` the loops: fetch runs
    ingest and consent jobs, retention runs retention, epochs, janitor and erasures."""
    runners: list[web.AppRunner] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        url = ""
        metrics_port = svc.settings.metrics_port
        if api or metrics_port is not None:
            app = create_app(services=svc, role=serve_role) if api else create_ops_app(svc)
            url = await _listen(svc, app, runners, host, port if api else (metrics_port or 0), tls)
            if tls is not None:
                _reload_tls_on_sighup(tls)
                tasks.append(asyncio.create_task(tls.watch(stop)))
            log.info("serving" if api else "serving metrics", extra={"url": url})
        if api and metrics_port is not None:  # /metrics off the API port, on its own
            ops_url = await _listen(svc, create_ops_app(svc), runners, host, metrics_port, tls)
            log.info("serving metrics", extra={"url": ops_url})
        if worker and worker_role in ("retention", "all"):
            tasks.append(asyncio.create_task(maintenance_loop(svc, stop)))
            tasks.append(asyncio.create_task(erasure_loop(svc, stop)))
        if worker and worker_role in ("fetch", "all"):
            tasks.append(asyncio.create_task(run_ingest_worker(svc, stop)))
            tasks.append(asyncio.create_task(run_consent_jobs(svc, stop)))
            tasks.append(asyncio.create_task(run_checkpoint_delivery(svc, stop)))
        if svc.keys.has_master and svc.custody.ingest and api:
            tasks.append(asyncio.create_task(key_upkeep_loop(svc, stop)))
        if api and not worker:
            tasks.append(asyncio.create_task(run_gauge_refresher(svc, stop)))
        if api:
            tasks.append(asyncio.create_task(probe_loop_lag(svc.metrics.loop_lag, stop)))
        if on_ready is not None:
            await on_ready(url)
        await stop.wait()
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if tls is not None:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        for runner in runners:
            await runner.cleanup()


async def serve(settings: Settings, *, api: bool, worker: bool, role: str = "all") -> None:
    """`role` is the serve role when `api`, else the worker role. Key material the role
    needs and lacks stops the process before anything starts (KeyMaterialMissing, exit 2)."""
    custody = (SERVE_CUSTODY if api else WORKER_CUSTODY)[role]
    require(settings, custody, f"`recstore {'serve' if api else 'worker'} --role {role}`")
    bound_malloc()  # before worker threads make arenas of their own
    configure(settings.log_level, json=settings.log_json)
    listens = api or settings.metrics_port is not None
    tls = server_tls_for(settings.tls_cert_file, settings.tls_key_file) if listens else None
    await preflight(settings, api=api, worker=worker, extra=notify_links())
    await require_schema(settings)
    key_service_for(settings, custody)  # malformed key material stops it here, exit 2
    if role in (("customer", "all") if api else ("fetch", "all")):
        require_audit_keys(settings)  # only the roles that hand out checkpoints hold it
    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with contextlib.AsyncExitStack() as started:
        try:
            # From here SIGTERM only sets `stop`: the rest of start-up must give way to it, or a
            # process starting while its database or object store hangs would sit out SIGTERM
            # for as long as their timeouts (fault campaign: orphans that ignored SIGTERM).
            svc = await _unless_stopped(
                stop, started.enter_async_context(open_services(settings, custody=custody)))
            await _unless_stopped(stop, check_bucket_region(svc.store))
        except _StoppedWhileStarting:
            log.info("stopped while starting")
            return
        await run_services(svc, api=api, worker=worker, host=settings.host, port=settings.port,
                           stop=stop, tls=tls, serve_role=role if api else "all",
                           worker_role=role if worker else "all")


class _StoppedWhileStarting(Exception):
    pass


async def _unless_stopped(stop: asyncio.Event, step: Awaitable[T]) -> T:
    """`step`'s result, or _StoppedWhileStarting (the step cancelled) once `stop` is set."""
    work = asyncio.ensure_future(step)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
    if work.cancelled():
        raise _StoppedWhileStarting
    return work.result()
