"""The customer's recordings: list with filters and paging, one recording with its player,
download and delete. The same domain functions as /api/v1/recordings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from api.parsing import path_uuid
from api.portal.forms import day_end, day_start, local_date
from api.portal.render import finish, page
from api.recordings import send_customer_audio
from api.security import customer_of
from crypto import normalize_phone
from recstore import audit
from recstore.accounts.customers import customer_row
from recstore.appkeys import services_key
from recstore.errors import Invalid
from recstore.recordings import reads
from recstore.recordings.caller_index import caller_search_indexes
from recstore.recordings.read import KeyPairCache, customer_view, list_page
from recstore.rights.erasure import erase_recording, live_row

PAGE_SIZE = 25


def _days_left(expires_at: datetime) -> int:
    return max(0, (expires_at - datetime.now(UTC)).days)


def _filters(request: web.Request) -> dict[str, str]:
    return {name: request.query.get(name, "").strip()[:64] for name in ("caller", "from", "to")}


async def recordings_page(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    filters = _filters(request)
    cursor = request.query.get("cursor") or None
    error, items, next_cursor, unread = None, [], None, 0
    try:
        since = local_date(filters["from"], "from")
        until = local_date(filters["to"], "to")
        async with svc.pool.acquire() as conn:
            caller_indexes = None
            if filters["caller"]:
                try:
                    number = normalize_phone(filters["caller"])
                except ValueError:
                    raise Invalid("the caller is not a phone number (for example +46701234567)"
                                  ) from None
                caller_indexes = await caller_search_indexes(
                    svc.keys, await customer_row(conn, who.customer_id), number)
            found = await list_page(conn, who.customer_id, limit=PAGE_SIZE, cursor=cursor,
                                    since=day_start(since) if since else None,
                                    until=day_end(until) if until else None,
                                    caller_indexes=caller_indexes)
            pairs = KeyPairCache(conn, svc.keys, who.customer_id)
            read = await reads.read_among(conn, who.user_id, [r["id"] for r in found.rows])
            for row in found.rows:
                view = await customer_view(row, pairs)
                items.append({**view, "unread": row["id"] not in read,
                              "days_left": _days_left(row["expires_at"])})
            next_cursor = found.next_cursor
            unread = await reads.unread_count(conn, who.user_id, who.customer_id)
    except Invalid as exc:
        error = exc.detail
    return page(request, "recordings.html", {
        "section": "recordings", "items": items, "filters": filters, "error": error,
        "next_cursor": next_cursor, "paged": cursor is not None, "unread": unread,
        "filtered": any(filters.values()), "deleted": request.query.get("deleted") == "1"},
        status=422 if error else 200)


async def _view(request: web.Request) -> dict[str, Any]:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    recording_id = path_uuid(request, "id")
    async with svc.pool.acquire() as conn:
        row = await live_row(conn, who.customer_id, recording_id)
        view = await customer_view(row, KeyPairCache(conn, svc.keys, who.customer_id))
        await audit.append(conn, who.customer_id, actor_type="customer", actor_id=who.user_id,
                           action="recording.metadata_read", recording_id=recording_id)
        await reads.mark_read(conn, who.user_id, who.customer_id, recording_id)
    return {**view, "days_left": _days_left(row["expires_at"])}


async def recording_page(request: web.Request) -> web.Response:
    return page(request, "recording.html", {"section": "recordings",
                                            "rec": await _view(request)})


async def audio(request: web.Request) -> web.StreamResponse:
    """Playing or downloading a recording counts as reading it."""
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        await reads.mark_read(conn, who.user_id, who.customer_id, path_uuid(request, "id"))
    return await send_customer_audio(request, download=request.query.get("download") == "1")


async def delete(request: web.Request) -> web.StreamResponse:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    await erase_recording(svc.pool, svc.store, who.customer_id, path_uuid(request, "id"),
                          who.user_id)
    response = web.Response(status=303, headers={"Location": "/?deleted=1"})
    finish(request, response)
    return response
