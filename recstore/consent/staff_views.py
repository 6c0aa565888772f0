"""What support staff see: operational metadata of any customer's recordings, and audio
only under a live grant. Every staff read, and every refused listen, is in the customer's
access log."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from recstore import audit
from recstore.accounts.customers import customer_row
from recstore.consent import grant_keys, notify
from recstore.consent.grants import live_grant_for
from recstore.db import Connection
from recstore.errors import Forbidden, NotFound
from recstore.keys import KeyService
from recstore.recordings.read import (
    AudioSlice,
    Page,
    choose_slice,
    get_row,
    list_page,
    operational_view,
)

log = logging.getLogger("recstore.staff")


@dataclass(frozen=True)
class StaffAudio:
    row: asyncpg.Record
    data_key: bytes  # from the grant key, never from the customer's key pair
    chosen: AudioSlice
    grant_id: UUID


async def _ingest_facts(conn: Connection, recording_ids: list[UUID]) -> dict[UUID, Any]:
    rows = await conn.fetch(
        "SELECT recording_id, attempts, last_error FROM ingest_jobs"
        " WHERE recording_id = ANY($1::uuid[])", recording_ids)
    return {row["recording_id"]: row for row in rows}


def staff_view(row: asyncpg.Record, job: asyncpg.Record | None) -> dict[str, Any]:
    """Operational fields only: caller and callee never leave their sealed columns here."""
    view = operational_view(row)
    view["customer_id"] = row["customer_id"]
    view["ingest_status"] = "stored"
    view["ingest_attempts"] = job["attempts"] if job is not None else None
    view["ingest_error"] = job["last_error"] if job is not None else None
    return view


async def list_for_staff(conn: Connection, staff_id: UUID, customer_id: UUID, *, limit: int,
                         cursor: str | None, since: datetime | None,
                         until: datetime | None) -> tuple[list[dict[str, Any]], str | None]:
    await customer_row(conn, customer_id)
    page: Page = await list_page(conn, customer_id, limit=limit, cursor=cursor, since=since,
                                 until=until)
    jobs = await _ingest_facts(conn, [row["id"] for row in page.rows])
    await audit.append(conn, customer_id, actor_type="staff", actor_id=staff_id,
                       action="staff.recordings_listed")
    return [staff_view(row, jobs.get(row["id"])) for row in page.rows], page.next_cursor


async def _any_row(conn: Connection, recording_id: UUID) -> asyncpg.Record:
    """Staff look recordings up by id alone; the customer's own read path decides what is
    readable (erased customers, recordings being deleted), so both agree."""
    customer_id = await conn.fetchval("SELECT customer_id FROM recordings WHERE id = $1",
                                      recording_id)
    if customer_id is None:
        raise NotFound()
    await customer_row(conn, customer_id)
    return await get_row(conn, customer_id, recording_id)


async def get_for_staff(conn: Connection, staff_id: UUID, recording_id: UUID) -> dict[str, Any]:
    row = await _any_row(conn, recording_id)
    jobs = await _ingest_facts(conn, [recording_id])
    await audit.append(conn, row["customer_id"], actor_type="staff", actor_id=staff_id,
                       action="staff.metadata_read", recording_id=recording_id)
    return staff_view(row, jobs.get(recording_id))


async def open_audio_for_staff(conn: Connection, keys: KeyService, staff_id: UUID,
                               recording_id: UUID, http_range: slice | None) -> StaffAudio:
    """Audio opens only through a grant key (sealed by the customer's consent), whatever the
    grants table says. Refusals are logged in the customer's access log before the 403."""
    row = await _any_row(conn, recording_id)
    customer_id: UUID = row["customer_id"]
    opened = await grant_keys.open_for_staff(conn, keys, customer_id, recording_id, staff_id,
                                             datetime.now(UTC))
    if opened is None:
        if await live_grant_for(conn, customer_id, recording_id, staff_id) is not None:
            log.warning("a live grant row has no grant key that opens: refused (rows altered?)",
                        extra={"recording_id": str(recording_id)})
        await audit.append(conn, customer_id, actor_type="staff", actor_id=staff_id,
                           action="staff.audio_denied", recording_id=recording_id)
        raise Forbidden("no live grant of the customer covers this recording for you")
    grant_id, data_key = opened
    chosen = choose_slice(int(row["size_bytes"]), http_range)
    async with conn.transaction():
        await audit.append(conn, customer_id, actor_type="staff", actor_id=staff_id,
                           action="staff.audio_read", recording_id=recording_id,
                           grant_id=grant_id)
        await notify.enqueue(conn, customer_id, "grant.used", grant_id=grant_id,
                             recording_id=recording_id, staff_id=staff_id)
    return StaffAudio(row, data_key, chosen, grant_id)


async def log_cut_off(conn: Connection, audio: StaffAudio, staff_id: UUID) -> None:
    await audit.append(conn, audio.row["customer_id"], actor_type="staff", actor_id=staff_id,
                       action="staff.audio_cut_off", recording_id=audio.row["id"],
                       grant_id=audio.grant_id)
