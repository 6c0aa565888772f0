"""Staff access requests: filed with a reason and a ticket, answered by a customer admin.

Approval creates a grant whose time runs from the approval; a request nobody answers
within 72 hours expires by itself. Decided and expired requests stay visible as history.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import asyncpg

from recstore import audit
from recstore.accounts.customers import customer_row
from recstore.consent import notify
from recstore.consent.grants import Scope, create_grant, named_recordings_end, page_newest_first
from recstore.db import Connection
from recstore.errors import Conflict, Invalid, NotFound
from recstore.keys import KeyService
from recstore.recordings.read import Page

REQUEST_TTL = timedelta(hours=72)
RequestStatus = Literal["pending", "approved", "denied", "expired"]


async def create_request(conn: Connection, *, staff_id: UUID, customer_id: UUID, scope: Scope,
                         reason: str, ticket: str) -> asyncpg.Record:
    await customer_row(conn, customer_id)
    if not scope.all_recordings:
        await named_recordings_end(conn, customer_id, scope.recording_ids)
    request_id = uuid.uuid4()
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO access_requests (id, customer_id, staff_id, all_recordings,"
            " recording_ids, reason, ticket) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            request_id, customer_id, staff_id, scope.all_recordings,
            sorted(set(scope.recording_ids)), reason, ticket)
        await audit.append(conn, customer_id, actor_type="staff", actor_id=staff_id,
                           action="access_request.created")
        await notify.enqueue(conn, customer_id, "access_request.created",
                             request_id=request_id, staff_id=staff_id)
    row: asyncpg.Record = await conn.fetchrow("SELECT * FROM access_requests WHERE id = $1",
                                              request_id)
    return row


async def expire_pending(conn: Connection, *, customer_id: UUID | None = None) -> int:
    """Mark unanswered requests past 72 hours as expired, each with a system audit entry."""
    async with conn.transaction():
        rows = await conn.fetch(
            "UPDATE access_requests SET status = 'expired', decided_at = created_at + $1::interval"
            " WHERE status = 'pending' AND created_at <= now() - $1::interval"
            " AND ($2::uuid IS NULL OR customer_id = $2) RETURNING id, customer_id",
            REQUEST_TTL, customer_id)
        # One order for every writer, so two passes never wait on each other's chain locks.
        for row in sorted(rows, key=lambda r: (str(r["customer_id"]), str(r["id"]))):
            await audit.append(conn, row["customer_id"], actor_type="system", actor_id=None,
                               action="access_request.expired")
    return len(rows)


async def list_requests(conn: Connection, customer_id: UUID, *,
                        status: RequestStatus | None = None, limit: int = 50,
                        cursor: str | None = None) -> Page:
    await expire_pending(conn, customer_id=customer_id)
    where = "q.customer_id = $1"
    args: list[Any] = [customer_id]
    if status is not None:
        where += " AND q.status = $2"
        args.append(status)
    return await page_newest_first(conn, "SELECT q.* FROM access_requests q", where, args,
                                   limit=limit, cursor=cursor, alias="q")


async def list_staff_requests(conn: Connection, staff_id: UUID, *, limit: int = 50,
                              cursor: str | None = None) -> Page:
    await expire_pending(conn)
    return await page_newest_first(conn, "SELECT q.* FROM access_requests q",
                                   "q.staff_id = $1", [staff_id], limit=limit, cursor=cursor,
                                   alias="q")


async def _pending_for_update(conn: Connection, customer_id: UUID,
                              request_id: UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT * FROM access_requests WHERE id = $1 AND customer_id = $2 FOR UPDATE",
        request_id, customer_id)
    if row is None:
        raise NotFound()
    if row["status"] != "pending":
        raise Conflict(f"the request is already {row['status']}")
    if row["created_at"] + REQUEST_TTL <= datetime.now(UTC):
        raise Conflict("the request is already expired")
    return row


async def approve(conn: Connection, customer_id: UUID, request_id: UUID, *, keys: KeyService,
                  decided_by: UUID, expires_at: datetime) -> asyncpg.Record:
    """Returns the new grant: for the requesting staff member, over what the request named
    (recordings deleted since are left out)."""
    await expire_pending(conn, customer_id=customer_id)
    now = datetime.now(UTC)
    async with conn.transaction():
        request = await _pending_for_update(conn, customer_id, request_id)
        named: tuple[UUID, ...] = ()
        if not request["all_recordings"]:
            still_there = await conn.fetch(
                "SELECT id FROM recordings WHERE customer_id = $1 AND id = ANY($2::uuid[])",
                customer_id, request["recording_ids"])
            named = tuple(row["id"] for row in still_there)
            if not named:
                raise Invalid("the recordings this request names no longer exist")
        grant = await create_grant(
            conn, customer_id, keys=keys, created_by=decided_by,
            scope=Scope(request["all_recordings"], named), staff_id=request["staff_id"],
            purpose=request["reason"], expires_at=expires_at, request_id=request_id, now=now)
        await conn.execute(
            "UPDATE access_requests SET status = 'approved', decided_at = $2, decided_by = $3,"
            " grant_id = $4 WHERE id = $1", request_id, now, decided_by, grant["id"])
        await audit.append(conn, customer_id, actor_type="customer", actor_id=decided_by,
                           action="access_request.approved", grant_id=grant["id"])
    return grant


async def deny(conn: Connection, customer_id: UUID, request_id: UUID, *,
               decided_by: UUID) -> asyncpg.Record:
    await expire_pending(conn, customer_id=customer_id)
    async with conn.transaction():
        await _pending_for_update(conn, customer_id, request_id)
        row: asyncpg.Record = await conn.fetchrow(
            "UPDATE access_requests SET status = 'denied', decided_at = now(), decided_by = $2"
            " WHERE id = $1 RETURNING *", request_id, decided_by)
        await audit.append(conn, customer_id, actor_type="customer", actor_id=decided_by,
                           action="access_request.denied")
    return row


def request_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"], "customer_id": row["customer_id"], "staff_id": row["staff_id"],
        "recording_ids": list(row["recording_ids"]), "all": row["all_recordings"],
        "reason": row["reason"], "ticket": row["ticket"], "status": row["status"],
        "created_at": row["created_at"], "expires_at": row["created_at"] + REQUEST_TTL,
        "decided_at": row["decided_at"], "decided_by": row["decided_by"],
        "grant_id": row["grant_id"],
    }


async def pending_covering(conn: Connection, staff_id: UUID, customer_id: UUID,
                           recording_id: UUID) -> bool:
    """Whether this staff member already waits for an answer covering this recording."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM access_requests WHERE staff_id = $1 AND customer_id = $2"
        " AND status = 'pending' AND created_at + $4::interval > now()"
        " AND (all_recordings OR $3 = ANY(recording_ids)))",
        staff_id, customer_id, recording_id, REQUEST_TTL)
    return found
