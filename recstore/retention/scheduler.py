"""The retention scheduler `recstore worker` and `recstore up` run, and the passes the CLI runs.

Every interval: delete expired recordings, destroy the key material of months past
retention, refresh the metrics; every janitor interval, the janitor. Passes are recorded
in the database, so the "last successful pass" is the same whichever process ran it.
A failed pass is logged, counted and simply runs again next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from recstore.consent import grant_keys
from recstore.retention import janitor
from recstore.retention.deletion import run_pass
from recstore.retention.epochs import run_epoch_pass
from recstore.retention.report import gauges, record_finish, record_start
from recstore.services import Services

log = logging.getLogger("recstore.retention")


class RetentionSettings(BaseSettings):
    """Tuning from RECSTORE_RETENTION_* variables (defaults suit production)."""

    model_config = SettingsConfigDict(env_prefix="RECSTORE_RETENTION_", extra="ignore",
                                      frozen=True)

    # At most 5 minutes, so an expired recording never waits near the 15-minute tolerance.
    interval_seconds: float = Field(default=60.0, gt=0, le=300)
    batch_size: int = Field(default=200, ge=1, le=5000)
    delete_concurrency: int = Field(default=8, ge=1, le=64)
    lease_seconds: float = Field(default=300.0, ge=1)
    retry_base_seconds: float = Field(default=30.0, ge=0)
    epoch_grace_days: int = Field(default=0, ge=0, le=30)
    janitor_interval_seconds: float = Field(default=600.0, gt=0)
    janitor_grace_seconds: float = Field(default=3600.0, ge=1)

    @property
    def epoch_grace(self) -> timedelta:
        return timedelta(days=self.epoch_grace_days)


async def retention_pass(svc: Services, settings: RetentionSettings, *,
                         now: datetime | None = None, dry_run: bool = False,
                         stop: asyncio.Event | None = None) -> dict[str, Any]:
    """Delete what has expired, then destroy due epochs (even when the object store is down:
    the crypto-shred does not need it). Returns {"deleted": n, ...}."""
    pool, metrics = svc.pool, svc.metrics
    if not dry_run:
        await record_start(pool, "retention")
    try:
        deletion = await run_pass(
            pool, svc.store, batch_size=settings.batch_size, dry_run=dry_run, now=now,
            lease=timedelta(seconds=settings.lease_seconds),
            retry_base=timedelta(seconds=settings.retry_base_seconds),
            concurrency=settings.delete_concurrency, stop=stop)
        epochs = await run_epoch_pass(pool, svc.keys.epochs, now=now,
                                      grace=settings.epoch_grace, dry_run=dry_run)
        grant_keys_expired = 0 if dry_run else await grant_keys.purge_expired(pool)
    except Exception as exc:
        metrics.retention_failures.labels("pass").inc()
        if not dry_run:
            await record_finish(pool, "retention", ok=False, result={"error": type(exc).__name__})
        raise
    result = {**deletion.as_dict(), "epochs_due": epochs.due, "epochs_destroyed": epochs.destroyed,
              "epochs_blocked": epochs.blocked, "customer_keys_removed": epochs.keys_removed,
              "grant_keys_expired": grant_keys_expired}
    ok = deletion.ok and epochs.ok
    result["ok"] = ok
    metrics.retention_deleted.inc(deletion.deleted)
    metrics.retention_failures.labels("object_delete").inc(deletion.failed)
    metrics.epochs_destroyed.inc(len(epochs.destroyed))
    if not dry_run:
        await record_finish(pool, "retention", ok=ok, result=result)
    return result


async def janitor_pass(svc: Services, settings: RetentionSettings, *,
                       now: datetime | None = None, dry_run: bool = False) -> dict[str, Any]:
    if not dry_run:
        await record_start(svc.pool, "janitor")
    try:
        found = await janitor.run(svc.pool, svc.store, now=now, dry_run=dry_run,
                                  grace=timedelta(seconds=settings.janitor_grace_seconds))
    except Exception as exc:
        svc.metrics.retention_failures.labels("janitor").inc()
        if not dry_run:
            await record_finish(svc.pool, "janitor", ok=False, result={"error": type(exc).__name__})
        raise
    result = found.as_dict()
    if not dry_run:
        svc.metrics.janitor_removed.labels("orphan_object").inc(found.orphans_removed)
        svc.metrics.janitor_rows_missing_object.set(found.rows_missing_object)
        await record_finish(svc.pool, "janitor", ok=True, result=result)
    return result


async def refresh_gauges(svc: Services, now: datetime | None = None) -> None:
    figures = await gauges(svc.pool, now)
    metrics = svc.metrics
    metrics.oldest_recording_age.set(figures.oldest_live_age_seconds or 0)
    metrics.retention_overdue.set(figures.overdue)
    if figures.last_success_at is not None:
        stamp = figures.last_success_at.timestamp()
        metrics.retention_last_success.set(stamp)
        # Evaluated at scrape time, so it keeps growing if this loop ever stalls.
        metrics.retention_since_last_pass.set_function(lambda: max(time.time() - stamp, 0.0))


async def _refresh_gauges_quietly(svc: Services) -> None:
    try:
        await refresh_gauges(svc, datetime.now(UTC))
    except Exception:
        log.exception("refreshing retention metrics failed")


async def run_gauge_refresher(svc: Services, stop: asyncio.Event,
                              settings: RetentionSettings | None = None) -> None:
    """For processes that serve /metrics without running the scheduler (`recstore serve`):
    the retention gauges come from the database, so they show what the workers did."""
    interval = (settings or RetentionSettings()).interval_seconds
    while not stop.is_set():
        await _refresh_gauges_quietly(svc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def run_scheduler(svc: Services, stop: asyncio.Event,
                        settings: RetentionSettings | None = None,
                        interval: float | None = None) -> None:
    settings = settings or RetentionSettings()
    interval = interval or settings.interval_seconds
    loop = asyncio.get_running_loop()
    next_janitor = loop.time()
    while not stop.is_set():
        try:
            await retention_pass(svc, settings, stop=stop)
        except Exception:
            log.exception("retention pass failed; retrying next interval")
        if loop.time() >= next_janitor and not stop.is_set():
            next_janitor = loop.time() + settings.janitor_interval_seconds
            try:
                await janitor_pass(svc, settings)
            except Exception:
                log.exception("janitor pass failed; retrying next janitor interval")
        await _refresh_gauges_quietly(svc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
