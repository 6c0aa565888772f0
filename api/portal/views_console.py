"""The staff console: a customer's recordings as operational metadata, access requests with
reason and ticket, and a player only where a live grant of the customer covers it."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web

from api.parsing import path_uuid
from api.portal.forms import field, uuid_field
from api.portal.render import finish, page
from api.security import principal
from api.staff import staff_get_audio
from recstore.appkeys import services_key
from recstore.consent import access_requests as request_store
from recstore.consent import staff_views
from recstore.consent.grants import Scope, live_grant_for
from recstore.errors import Invalid, RecstoreError


async def console_home(request: web.Request, *, error: str | None = None,
                       status: int = 200) -> web.Response:
    svc, who = request.app[services_key], principal(request)
    raw = request.query.get("customer", "").strip()[:64]
    customer_id: UUID | None = None
    items: list[dict[str, object]] = []
    next_cursor = None
    async with svc.pool.acquire() as conn:
        if raw:
            try:
                customer_id = UUID(raw)
                items, next_cursor = await staff_views.list_for_staff(
                    conn, who.user_id, customer_id, limit=50,
                    cursor=request.query.get("cursor") or None, since=None, until=None)
            except ValueError:
                error, status = "That is not a customer id.", 422
            except RecstoreError as exc:
                error, status = exc.detail or "No such customer.", exc.status
                customer_id = None
        mine = await request_store.list_staff_requests(conn, who.user_id, limit=20)
    return page(request, "console.html", {
        "section": "console", "customer_raw": raw, "customer_id": customer_id, "items": items,
        "next_cursor": next_cursor, "error": error,
        "requests": [request_store.request_view(r) for r in mine.rows],
        "sent": request.query.get("sent") == "1"}, status=status)


async def console_recording(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], principal(request)
    recording_id = path_uuid(request, "id")
    async with svc.pool.acquire() as conn:
        view = await staff_views.get_for_staff(conn, who.user_id, recording_id)
        grant_id = await live_grant_for(conn, view["customer_id"], recording_id, who.user_id)
        pending = await request_store.pending_covering(conn, who.user_id, view["customer_id"],
                                                       recording_id)
    return page(request, "console_recording.html", {
        "section": "console", "rec": view, "grant_id": grant_id, "pending": pending,
        "sent": request.query.get("sent") == "1"})


async def console_audio(request: web.Request) -> web.StreamResponse:
    return await staff_get_audio(request)


async def request_access(request: web.Request) -> web.StreamResponse:
    svc, who = request.app[services_key], principal(request)
    customer_id = uuid_field(request, "customer_id")
    scope_all = field(request, "scope", max_length=10) == "all"
    named: tuple[UUID, ...] = ()
    if not scope_all:
        named = (uuid_field(request, "recording_id"),)
    reason, ticket = field(request, "reason"), field(request, "ticket", max_length=200)
    try:
        async with svc.pool.acquire() as conn:
            await request_store.create_request(conn, staff_id=who.user_id, customer_id=customer_id,
                                               scope=Scope(scope_all, named), reason=reason,
                                               ticket=ticket)
    except Invalid as exc:
        return await console_home(request, error=exc.detail, status=422)
    location = (f"/?customer={customer_id}&sent=1" if scope_all
                else f"/console/recordings/{named[0]}?sent=1")
    response = web.Response(status=303, headers={"Location": location})
    finish(request, response)
    return response
