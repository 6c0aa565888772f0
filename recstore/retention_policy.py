"""When a recording must be gone: recorded_at + min(customer retention, 90 days)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

MAX_RETENTION = timedelta(days=90)


def expires_at(recorded_at: datetime, retention_days: int) -> datetime:
    return recorded_at + min(timedelta(days=retention_days), MAX_RETENTION)


def is_past_retention(recorded_at: datetime, retention_days: int, now: datetime | None = None) -> bool:
    return expires_at(recorded_at, retention_days) <= (now or datetime.now(UTC))
