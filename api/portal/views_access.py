"""Staff access from the customer's side: requests to approve or deny, grants to revoke,
and the access log with people's e-mail addresses instead of ids."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aiohttp import web

from api.parsing import path_uuid
from api.portal.actions import phrase
from api.portal.forms import expiry_in_days, field
from api.portal.render import finish, page
from api.security import customer_of
from recstore import audit, checkpoints
from recstore.appkeys import services_key
from recstore.consent import access_requests as request_store
from recstore.consent import grants as grant_store
from recstore.consent.actor_names import names_for
from recstore.errors import Invalid

MAX_GRANT_DAYS = 7
_DONE = {"approved": "Approved: the support engineer can listen until the grant ends.",
         "denied": "Denied: nothing was shared.", "revoked": "Revoked: access ended now."}
LOG_PAGE = 50


def _see_other(request: web.Request, location: str) -> web.Response:
    response = web.Response(status=303, headers={"Location": location})
    finish(request, response)
    return response


async def access_page(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        requests = await request_store.list_requests(conn, who.customer_id, limit=50)
        grants = await grant_store.list_grants(conn, who.customer_id, limit=50)
        req_views = [request_store.request_view(r) for r in requests.rows]
        grant_views = [grant_store.grant_view(g) for g in grants.rows]
        people = {v["staff_id"] for v in req_views} | {
            v[k] for v in grant_views for k in ("staff_id", "created_by", "revoked_by")}
        names = await names_for(conn, {p for p in people if p is not None})
    return page(request, "access.html", {
        "section": "access", "names": names, "max_days": MAX_GRANT_DAYS,
        "pending": [v for v in req_views if v["status"] == "pending"],
        "answered": [v for v in req_views if v["status"] != "pending"],
        "grants": grant_views, "done": _DONE.get(request.query.get("done", ""))})


def _days(request: web.Request) -> int:
    try:
        days = int(field(request, "days", max_length=2))
    except ValueError:
        raise Invalid("choose how many days the access lasts") from None
    if not 1 <= days <= MAX_GRANT_DAYS:
        raise Invalid(f"access can last from 1 to {MAX_GRANT_DAYS} days")
    return days


async def approve(request: web.Request) -> web.StreamResponse:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    expires_at = expiry_in_days(_days(request))
    async with svc.pool.acquire() as conn:
        await request_store.approve(conn, who.customer_id, path_uuid(request, "id"),
                                    keys=svc.keys, decided_by=who.user_id,
                                    expires_at=expires_at)
    return _see_other(request, "/access?done=approved")


async def deny(request: web.Request) -> web.StreamResponse:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        await request_store.deny(conn, who.customer_id, path_uuid(request, "id"),
                                 decided_by=who.user_id)
    return _see_other(request, "/access?done=denied")


async def revoke(request: web.Request) -> web.StreamResponse:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        await grant_store.revoke_grant(conn, who.customer_id, path_uuid(request, "id"),
                                       revoked_by=who.user_id)
    return _see_other(request, "/access?done=revoked")


async def log_page(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    cursor = request.query.get("cursor") or None
    async with svc.pool.acquire() as conn:
        rows, next_cursor = await audit.list_entries(conn, who.customer_id, limit=LOG_PAGE,
                                                     cursor=cursor)
        entries: list[dict[str, Any]] = [
            {**audit.public_entry(row), "phrase": phrase(row["action"])} for row in rows]
        actors: set[UUID] = {e["actor_id"] for e in entries if e["actor_id"] is not None}
        names = await names_for(conn, actors)
        checkpoint = await checkpoints.current(conn, svc.settings.audit_keys_path(),
                                               who.customer_id)
    return page(request, "access_log.html", {
        "section": "log", "entries": entries, "names": names, "next_cursor": next_cursor,
        "paged": cursor is not None, "checkpoint": checkpoint})


async def checkpoint_download(request: web.Request) -> web.StreamResponse:
    """The signed head of the chain as a file, for `recstore audit verify --checkpoint`."""
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        checkpoint = await checkpoints.current(conn, svc.settings.audit_keys_path(),
                                               who.customer_id)
    response = web.json_response(checkpoint.as_json(), headers={
        "Content-Disposition": f'attachment; filename="recstore-checkpoint-{checkpoint.seq}.json"'})
    finish(request, response)
    return response
