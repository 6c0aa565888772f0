"""A customer's choice of new-recording notifications (issue 14): on or off, and whether
the notice names the caller's number. Off by default for the number: e-mail is not
end-to-end encrypted."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from recstore import audit
from recstore.db import Connection
from recstore.errors import NotFound


@dataclass(frozen=True)
class NotifyPrefs:
    new_recordings: bool
    include_caller: bool


async def get_prefs(conn: Connection, customer_id: UUID) -> NotifyPrefs:
    row = await conn.fetchrow("SELECT notify_new_recordings, notify_include_caller FROM customers"
                              " WHERE id = $1 AND erased_at IS NULL", customer_id)
    if row is None:
        raise NotFound()
    return NotifyPrefs(row["notify_new_recordings"], row["notify_include_caller"])


async def set_prefs(conn: Connection, customer_id: UUID, actor_id: UUID,
                    prefs: NotifyPrefs) -> NotifyPrefs:
    before = await get_prefs(conn, customer_id)
    if prefs != before:
        async with conn.transaction():
            await conn.execute("UPDATE customers SET notify_new_recordings = $2,"
                               " notify_include_caller = $3 WHERE id = $1",
                               customer_id, prefs.new_recordings, prefs.include_caller)
            await audit.append(conn, customer_id, actor_type="customer", actor_id=actor_id,
                               action="settings.notifications_changed")
    return prefs
