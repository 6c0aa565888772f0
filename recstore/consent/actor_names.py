"""People's names for the access log: staff and colleagues by e-mail, never by bare id."""

from __future__ import annotations

from uuid import UUID

from recstore.db import Connection


async def names_for(conn: Connection, user_ids: set[UUID]) -> dict[UUID, str | None]:
    """E-mail of each user id; None for a removed user (their address was forgotten)."""
    if not user_ids:
        return {}
    rows = await conn.fetch("SELECT id, email FROM users WHERE id = ANY($1::uuid[])",
                            list(user_ids))
    return {row["id"]: row["email"] for row in rows}
