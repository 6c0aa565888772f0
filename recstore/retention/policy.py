"""When a recording must be gone, and when its month's key material must be.

A recording expires at recorded_at + min(customer retention, 90 days). Its retention epoch
is the calendar month (UTC) of recorded_at, so every recording of a month has expired by
month end + 90 days (`epoch_closes_at`); the month's epoch secret is destroyed a grace period
after that (`epoch_destroy_after`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from crypto.epochs import EPOCH_PATTERN
from recstore.db import Connection
from recstore.errors import Invalid, NotFound

MAX_RETENTION_DAYS = 90
MAX_RETENTION = timedelta(days=MAX_RETENTION_DAYS)
# Between the last possible expiry of a month and the destruction of its secret: covers clock
# differences between hosts and a scheduler that was down for a while.
EPOCH_GRACE = timedelta(days=1)


def expires_at(recorded_at: datetime, retention_days: int) -> datetime:
    return recorded_at + min(timedelta(days=retention_days), MAX_RETENTION)


def epoch_start(epoch: str) -> datetime:
    if not EPOCH_PATTERN.fullmatch(epoch):
        raise ValueError("epoch must be 'YYYY-MM'")
    year, month = int(epoch[:4]), int(epoch[5:])
    return datetime(year, month, 1, tzinfo=UTC)


def epoch_end(epoch: str) -> datetime:
    """The first instant after the month."""
    start = epoch_start(epoch)
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
