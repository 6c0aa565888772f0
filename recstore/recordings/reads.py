"""Per-user read state of recordings (unread until a user opens or plays one), and the
counts the portal shows about a customer's live recordings."""

from __future__ import annotations

from uuid import UUID

from recstore.db import Connection


async def mark_read(conn: Connection, user_id: UUID, customer_id: UUID, recording_id: UUID) -> None:
    """A no-op for an id that is not this customer's recording (the caller answers 404)."""
    await conn.execute(
        "INSERT INTO recording_reads (user_id, recording_id, customer_id) SELECT $1, id, $3"
        " FROM recordings WHERE id = $2 AND customer_id = $3 ON CONFLICT DO NOTHING",
        user_id, recording_id, customer_id)


async def read_among(conn: Connection, user_id: UUID, recording_ids: list[UUID]) -> set[UUID]:
    rows = await conn.fetch("SELECT recording_id FROM recording_reads WHERE user_id = $1"
                            " AND recording_id = ANY($2::uuid[])", user_id, recording_ids)
    return {row["recording_id"] for row in rows}


async def unread_count(conn: Connection, user_id: UUID, customer_id: UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM recordings r WHERE r.customer_id = $1 AND r.shredded_at IS NULL"
        " AND r.expires_at > now() AND NOT EXISTS (SELECT 1 FROM recording_reads x"
        " WHERE x.user_id = $2 AND x.recording_id = r.id)", customer_id, user_id)
    return count


async def live_totals(conn: Connection, customer_id: UUID) -> tuple[int, int]:
    """(count, total bytes) of the customer's recordings still readable: what an export holds."""
    row = await conn.fetchrow(
        "SELECT count(*), coalesce(sum(size_bytes), 0) FROM recordings WHERE customer_id = $1"
        " AND shredded_at IS NULL AND expires_at > now()", customer_id)
    assert row is not None
    return int(row[0]), int(row[1])
