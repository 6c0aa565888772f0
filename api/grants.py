"""Customer routes of staff access: grants and the staff's access requests."""

from __future__ import annotations

from aiohttp import web

from api.grants_models import (
    AccessRequest,
    AccessRequestPage,
    AccessRequestQuery,
    Approval,
    Grant,
    GrantCreate,
    GrantPage,
    PageQuery,
)
from api.parsing import parse_body, parse_query, path_uuid
from api.security import customer_of
from recstore.appkeys import services_key
from recstore.consent import access_requests as request_store
from recstore.consent import grants as grant_store


def _json(model: Grant | GrantPage | AccessRequest | AccessRequestPage, status: int = 200
          ) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


async def create_grant(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    body = await parse_body(request, GrantCreate)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        row = await grant_store.create_grant(
            conn, who.customer_id, keys=svc.keys, created_by=who.user_id,
            scope=grant_store.Scope(body.all, tuple(body.recording_ids or ())),
            staff_id=body.staff_id, purpose=body.purpose, expires_at=body.expires_at)
    return _json(Grant.model_validate(grant_store.grant_view(row)), status=201)


async def list_grants(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    query = parse_query(request, PageQuery)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        page = await grant_store.list_grants(conn, who.customer_id, limit=query.limit,
                                             cursor=query.cursor)
    items = [Grant.model_validate(grant_store.grant_view(row)) for row in page.rows]
    return _json(GrantPage(items=items, next_cursor=page.next_cursor))


async def revoke_grant(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    grant_id = path_uuid(request, "id")
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        await grant_store.revoke_grant(conn, who.customer_id, grant_id, revoked_by=who.user_id)
    return web.Response(status=204)


async def list_access_requests(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    query = parse_query(request, AccessRequestQuery)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        page = await request_store.list_requests(conn, who.customer_id, status=query.status,
                                                 limit=query.limit, cursor=query.cursor)
    items = [AccessRequest.model_validate(request_store.request_view(r)) for r in page.rows]
    return _json(AccessRequestPage(items=items, next_cursor=page.next_cursor))


async def approve_access_request(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    request_id = path_uuid(request, "id")
    body = await parse_body(request, Approval)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        row = await request_store.approve(conn, who.customer_id, request_id, keys=svc.keys,
                                          decided_by=who.user_id, expires_at=body.expires_at)
    return _json(Grant.model_validate(grant_store.grant_view(row)), status=201)


async def deny_access_request(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    request_id = path_uuid(request, "id")
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        row = await request_store.deny(conn, who.customer_id, request_id, decided_by=who.user_id)
    return _json(AccessRequest.model_validate(request_store.request_view(row)))
