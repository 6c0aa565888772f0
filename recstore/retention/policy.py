"""When a recording must be gone, and when its month's key material must be.

A recording expires at recorded_at + min(customer retention, 90 days). Its retention epoch
is the ISO week (UTC) of recorded_at (a calendar month for recordings stored before weekly
epochs), so every recording of an epoch has expired by its end + 90 days
(`epoch_closes_at`); the epoch secret is destroyed then, or a configured grace after
(`epoch_destroy_after`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from crypto.epochs import MONTH_PATTERN, WEEK_PATTERN
from recstore.db import Connection
from recstore.errors import Invalid, NotFound

MAX_RETENTION_DAYS = 90
MAX_RETENTION = timedelta(days=MAX_RETENTION_DAYS)
# Between the last possible expiry of an epoch and the destruction of its secret. None is
# needed for safety: every recording of the epoch has expired by then, and a host whose clock
# lags and stores a late one stores something already past retention. With weekly epochs
# this keeps every backup unopenable at most 7 days past a recording's retention limit.
EPOCH_GRACE = timedelta(0)


def expires_at(recorded_at: datetime, retention_days: int) -> datetime:
    return recorded_at + min(timedelta(days=retention_days), MAX_RETENTION)


def epoch_start(epoch: str) -> datetime:
    if WEEK_PATTERN.fullmatch(epoch):
        monday = date.fromisocalendar(int(epoch[:4]), int(epoch[6:]), 1)
        return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    if not MONTH_PATTERN.fullmatch(epoch):
        raise ValueError("epoch must be 'YYYY-Www' or 'YYYY-MM'")
    year, month = int(epoch[:4]), int(epoch[5:])
    return datetime(year, month, 1, tzinfo=UTC)


def epoch_end(epoch: str) -> datetime:
    """The first instant after the epoch (a week, or a month for the older epochs)."""
    start = epoch_start(epoch)
    if WEEK_PATTERN.fullmatch(epoch):
        return start + timedelta(days=7)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 \
        else start.replace(month=start.month + 1)


def epoch_closes_at(epoch: str) -> datetime:
    """No recording of this month can be live from this instant on."""
    return epoch_end(epoch) + MAX_RETENTION


def epoch_destroy_after(epoch: str, grace: timedelta = EPOCH_GRACE) -> datetime:
    return epoch_closes_at(epoch) + grace


@dataclass(frozen=True)
class RetentionChange:
    retention_days: int
    recordings_moved: int  # live recordings whose expiry changed
    now_expired: int  # of those, how many the next retention pass deletes


async def apply_retention_days(conn: Connection, customer_id: UUID, days: int) -> RetentionChange:
    """Set a customer's retention and move the expiry of their live recordings to match.

    Shortening takes effect at once: recordings now past the new expiry go on the next
    retention pass. Lengthening extends recordings that are still live only; an expired
    recording is never brought back. One transaction; NotFound for an unknown or erased
    customer.
    """
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise Invalid(f"retention_days must be between 1 and {MAX_RETENTION_DAYS}")
    async with conn.transaction():
        # The customer row first: its lock orders this against concurrent inserts (whose
        # trigger reads retention_days FOR SHARE), so no recording keeps the old expiry.
        found = await conn.fetchval(
            "UPDATE customers SET retention_days = $2 WHERE id = $1 AND erased_at IS NULL"
            " RETURNING id", customer_id, days)
        if found is None:
            raise NotFound()
        row = await conn.fetchrow(
            "WITH moved AS (UPDATE recordings SET expires_at = recorded_at + make_interval(days => $2)"
            " WHERE customer_id = $1 AND shredded_at IS NULL AND expires_at > now()"
            " AND expires_at <> recorded_at + make_interval(days => $2) RETURNING expires_at)"
            " SELECT count(*) AS moved, count(*) FILTER (WHERE expires_at <= now()) AS expired"
            " FROM moved", customer_id, days)
    assert row is not None
    return RetentionChange(days, int(row["moved"]), int(row["expired"]))
