"""What an auditor (or an alert) checks: how old the oldest recording is, what is overdue, and
when retention last ran successfully. Pass outcomes are kept in `retention_passes`, so every
process, and `recstore retention report`, sees the same answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from recstore.db import Pool
from recstore.epoch_keys import EpochKeyStore
from recstore.retention.policy import EPOCH_GRACE, MAX_RETENTION_DAYS, epoch_destroy_after

Task = Literal["retention", "janitor"]
# A recording past its expiry by more than this is overdue: the scheduler runs every minute.
OVERDUE_AFTER = timedelta(minutes=15)
AGE_BUCKETS_DAYS = (30, 60, 90)


async def record_start(pool: Pool, task: Task) -> None:
    await pool.execute(
        "INSERT INTO retention_passes (task, last_started_at, runs) VALUES ($1, now(), 1)"
        " ON CONFLICT (task) DO UPDATE SET last_started_at = now(),"
        " runs = retention_passes.runs + 1", task)


async def record_finish(pool: Pool, task: Task, *, ok: bool, result: dict[str, Any]) -> None:
    await pool.execute(
        "UPDATE retention_passes SET last_finished_at = now(), last_ok = $2,"
        " last_result = $3::jsonb, last_success_at = CASE WHEN $2 THEN now() ELSE last_success_at END,"
        " failed_runs = failed_runs + CASE WHEN $2 THEN 0 ELSE 1 END WHERE task = $1",
        task, ok, json.dumps(result, default=str))


async def last_passes(pool: Pool) -> dict[str, dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM retention_passes ORDER BY task")
    out = {}
    for row in rows:
        item = dict(row)
        item["last_result"] = json.loads(row["last_result"]) if row["last_result"] else None
        out[item.pop("task")] = item
    return out


@dataclass(frozen=True)
class Gauges:
    oldest_live_age_seconds: float | None
    expired: int
    overdue: int
    last_success_at: datetime | None


async def gauges(pool: Pool, now: datetime | None = None,
                 overdue_after: timedelta = OVERDUE_AFTER) -> Gauges:
    """The cheap figures (index lookups only) the scheduler exports as metrics."""
    now = now or datetime.now(UTC)
    row = await pool.fetchrow(
        "SELECT (SELECT min(recorded_at) FROM recordings) AS oldest,"
        " (SELECT count(*) FROM recordings WHERE expires_at <= $1) AS expired,"
        " (SELECT count(*) FROM recordings WHERE expires_at <= $2) AS overdue,"
        " (SELECT last_success_at FROM retention_passes WHERE task = 'retention') AS success",
        now, now - overdue_after)
    assert row is not None
    oldest = row["oldest"]
    return Gauges((now - oldest).total_seconds() if oldest else None, row["expired"],
                  row["overdue"], row["success"])


async def report(pool: Pool, epochs: EpochKeyStore | None = None, *,
                 now: datetime | None = None, overdue_after: timedelta = OVERDUE_AFTER,
                 grace: timedelta = EPOCH_GRACE) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    figures = await gauges(pool, now, overdue_after)
    by_age = dict(await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE recorded_at > $1) AS \"0-30\","
        " count(*) FILTER (WHERE recorded_at <= $1 AND recorded_at > $2) AS \"30-60\","
        " count(*) FILTER (WHERE recorded_at <= $2 AND recorded_at > $3) AS \"60-90\","
        " count(*) FILTER (WHERE recorded_at <= $3) AS \"90+\" FROM recordings",
        *(now - timedelta(days=days) for days in AGE_BUCKETS_DAYS)) or {})
    trouble = await pool.fetchrow(
        "SELECT count(*) FILTER (WHERE deletion_attempts > 0) AS retrying,"
        " count(*) FILTER (WHERE object_missing_since IS NOT NULL) AS missing FROM recordings")
    assert trouble is not None
    success = figures.last_success_at
    epochs_section: dict[str, Any] = {
        "destroyed": [row["epoch"] for row in await pool.fetch(
            "SELECT epoch FROM destroyed_epochs ORDER BY epoch")]}
    if epochs is not None:
        live = epochs.epochs()
        epochs_section["live"] = live
        epochs_section["overdue"] = [e for e in live
                                     if now >= epoch_destroy_after(e, grace) + overdue_after]
    overdue_epochs = epochs_section.get("overdue", [])
    return {
        "ok": figures.overdue == 0 and not overdue_epochs,
        "now": now,
        "max_retention_days": MAX_RETENTION_DAYS,
        "live_recordings": sum(by_age.values()),
        "oldest_live_age_seconds": figures.oldest_live_age_seconds,
        "oldest_live_age_days": None if figures.oldest_live_age_seconds is None
        else round(figures.oldest_live_age_seconds / 86400, 3),
        "by_age_days": by_age,
        "expired_awaiting_deletion": figures.expired,
        "overdue": figures.overdue,
        "overdue_after_seconds": overdue_after.total_seconds(),
        "deletions_retrying": trouble["retrying"],
        "rows_missing_object": trouble["missing"],
        "last_successful_pass": success,
        "seconds_since_last_successful_pass": (now - success).total_seconds() if success else None,
        "passes": await last_passes(pool),
        "epochs": epochs_section,
    }
