"""Grants: a customer admin's consent that staff may listen to some recordings, for a while.

A grant names listed recordings or all of the customer's, one staff member or any, and an
expiry at most seven days from the decision. It never outlives the recordings it names, and
revocation takes effect at the next piece of any download in progress.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import asyncpg

from recstore import audit
from recstore.consent import grant_keys
from recstore.db import Connection, Pool
from recstore.errors import Forbidden, Invalid, NotFound
from recstore.keys import KeyService
from recstore.recordings.read import MAX_PAGE, Page, decode_cursor, encode_cursor

MAX_GRANT_DAYS = 7
MAX_LISTED = 1000
GrantStatus = Literal["active", "expired", "revoked"]

_SELECT = ("SELECT g.*, r.ticket FROM grants g"
           " LEFT JOIN access_requests r ON r.id = g.request_id")


class GrantRevoked(Forbidden):
    """Raised mid-stream: a download ends with a cut connection, never a short 200."""

    def __init__(self) -> None:
        super().__init__("the grant is no longer live")


@dataclass(frozen=True)
class Scope:
    all_recordings: bool
    recording_ids: tuple[UUID, ...] = ()

    def __post_init__(self) -> None:
        if self.all_recordings == bool(self.recording_ids):
            raise Invalid("name either recording_ids or all, not both and not neither")
        if len(self.recording_ids) > MAX_LISTED:
            raise Invalid(f"at most {MAX_LISTED} recording_ids")


def check_expiry(expires_at: datetime, now: datetime) -> None:
    if expires_at.tzinfo is None:
        raise Invalid("expires_at needs a time zone")
    if expires_at <= now:
        raise Invalid("expires_at must be in the future")
    if expires_at > now + timedelta(days=MAX_GRANT_DAYS):
        raise Invalid(f"expires_at may be at most {MAX_GRANT_DAYS} days ahead")


async def named_recordings_end(conn: Connection, customer_id: UUID,
                               recording_ids: Sequence[UUID]) -> datetime:
    """When the first of the named recordings expires. Ids of other customers and ids that
    do not exist get the same answer, so the check reveals nothing about them."""
    wanted = set(recording_ids)
    rows = await conn.fetch(
        "SELECT id, expires_at FROM recordings WHERE customer_id = $1 AND id = ANY($2::uuid[])",
        customer_id, list(wanted))
    if len(rows) != len(wanted):
        raise Invalid("recording_ids must all name recordings of this customer")
    earliest: datetime = min(row["expires_at"] for row in rows)
    return earliest


async def _check_staff(conn: Connection, staff_id: UUID) -> None:
    found = await conn.fetchval(
        "SELECT 1 FROM users WHERE id = $1 AND role = 'staff' AND disabled_at IS NULL", staff_id)
    if found is None:
        raise Invalid("staff_id does not name a staff member")


async def create_grant(
    conn: Connection,
    customer_id: UUID,
    *,
    keys: KeyService,
    created_by: UUID,
    scope: Scope,
    staff_id: UUID | None,
    purpose: str,
    expires_at: datetime,
    request_id: UUID | None = None,
    now: datetime | None = None,
) -> asyncpg.Record:
    """The grant's time runs from now (the decision), and `created_by` is the deciding user.
    Each covered recording's data key is sealed to the staff service in the same transaction
    (recstore/consent/grant_keys.py): the grant row alone opens nothing."""
    now = now or datetime.now(UTC)
    check_expiry(expires_at, now)
    if staff_id is not None:
        await _check_staff(conn, staff_id)
    if not scope.all_recordings:
        expires_at = min(expires_at, await named_recordings_end(conn, customer_id,
                                                                scope.recording_ids))
        if expires_at <= now:
            raise Invalid("a named recording is about to expire")
    grant_id = uuid.uuid4()
    async with conn.transaction():
        await grant_keys.lock_customer_grants(conn, customer_id)
        await conn.execute(
            "INSERT INTO grants (id, customer_id, staff_id, all_recordings, recording_ids,"
            " purpose, created_by, request_id, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            grant_id, customer_id, staff_id, scope.all_recordings,
            sorted(set(scope.recording_ids)), purpose, created_by, request_id, now, expires_at)
        binding = grant_keys.GrantBinding(grant_id, customer_id, staff_id, expires_at)
        await grant_keys.seal_for_grant(conn, keys, binding, None if scope.all_recordings
                                        else scope.recording_ids)
        await audit.append(conn, customer_id, actor_type="customer", actor_id=created_by,
                           action="grant.created", grant_id=grant_id)
    return await get_grant(conn, customer_id, grant_id)


async def get_grant(conn: Connection, customer_id: UUID, grant_id: UUID) -> asyncpg.Record:
    row = await conn.fetchrow(f"{_SELECT} WHERE g.id = $1 AND g.customer_id = $2",
                              grant_id, customer_id)
    if row is None:
        raise NotFound()
    return row


async def page_newest_first(conn: Connection, select: str, where: str, args: list[Any], *,
                            limit: int, cursor: str | None, alias: str) -> Page:
    """Keyset paging by (created_at, id), newest first: stable while rows are added."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}")
    args = list(args)
    if cursor is not None:
        args.extend(decode_cursor(cursor))
        where += f" AND ({alias}.created_at, {alias}.id) < (${len(args) - 1}, ${len(args)})"
    args.append(limit + 1)
    rows = await conn.fetch(
        f"{select} WHERE {where} ORDER BY {alias}.created_at DESC, {alias}.id DESC"
        f" LIMIT ${len(args)}", *args)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"])
    return Page(list(rows), next_cursor)


async def list_grants(conn: Connection, customer_id: UUID, *, limit: int = 50,
                      cursor: str | None = None) -> Page:
    """Every grant, live or not: expired and revoked ones stay visible as history."""
    return await page_newest_first(conn, _SELECT, "g.customer_id = $1", [customer_id],
                                   limit=limit, cursor=cursor, alias="g")


async def revoke_grant(conn: Connection, customer_id: UUID, grant_id: UUID, *,
                       revoked_by: UUID) -> None:
    """Idempotent: revoking a revoked grant changes nothing and logs nothing new."""
    async with conn.transaction():
        done = await conn.fetchval(
            "UPDATE grants SET revoked_at = now(), revoked_by = $3"
            " WHERE id = $1 AND customer_id = $2 AND revoked_at IS NULL RETURNING id",
            grant_id, customer_id, revoked_by)
        if done is None:
            await get_grant(conn, customer_id, grant_id)  # 404 unless it is this customer's
            await grant_keys.destroy_for_grant(conn, grant_id)  # even if un-revoked meanwhile
            return
        await grant_keys.destroy_for_grant(conn, grant_id)
        await audit.append(conn, customer_id, actor_type="customer", actor_id=revoked_by,
                           action="grant.revoked", grant_id=grant_id)


async def live_grant_for(conn: Connection, customer_id: UUID, recording_id: UUID,
                         staff_id: UUID) -> UUID | None:
    """A live grant of this customer covering this recording and this staff member; a grant
    naming the staff member is preferred over one for any staff."""
    found: UUID | None = await conn.fetchval(
        "SELECT id FROM grants WHERE customer_id = $1 AND revoked_at IS NULL"
        " AND expires_at > now() AND (staff_id IS NULL OR staff_id = $3)"
        " AND (all_recordings OR $2 = ANY(recording_ids))"
        " ORDER BY staff_id IS NULL, expires_at DESC LIMIT 1",
        customer_id, recording_id, staff_id)
    return found


async def is_live(conn: Connection | Pool, grant_id: UUID) -> bool:
    live: bool | None = await conn.fetchval(
        "SELECT revoked_at IS NULL AND expires_at > now()"
        " AND EXISTS (SELECT 1 FROM grant_keys WHERE grant_id = $1) FROM grants WHERE id = $1",
        grant_id)
    return bool(live)


def stream_guard(pool: Pool, grant_id: UUID, on_cut: Callable[[], Awaitable[None]]
                 ) -> Callable[[], Awaitable[bool]]:
    """The per-piece check for decrypt_audio's `still_allowed`.

    It raises rather than answering False: a stream that just stopped would leave the client
    waiting for the rest of its Content-Length on a kept-alive connection.
    """

    cut = False

    async def still_allowed() -> bool:
        nonlocal cut
        if cut or not await is_live(pool, grant_id):
            if not cut:  # once, though a watcher and the piece loop may both notice
                cut = True
                await on_cut()
            raise GrantRevoked()
        return True

    return still_allowed


def grant_status(row: asyncpg.Record, now: datetime) -> GrantStatus:
    if row["revoked_at"] is not None:
        return "revoked"
    return "active" if row["expires_at"] > now else "expired"


def grant_view(row: asyncpg.Record, now: datetime | None = None) -> dict[str, Any]:
    return {
        "id": row["id"], "recording_ids": list(row["recording_ids"]),
        "all": row["all_recordings"], "staff_id": row["staff_id"], "purpose": row["purpose"],
        "status": grant_status(row, now or datetime.now(UTC)),
        "created_at": row["created_at"], "created_by": row["created_by"],
        "expires_at": row["expires_at"], "revoked_at": row["revoked_at"],
        "revoked_by": row["revoked_by"], "request_id": row["request_id"],
        "ticket": row["ticket"],
    }
