"""GET /api/v1/access-log: the customer's own hash-chained audit log, newest first, with a
signed checkpoint of its head; GET /api/v1/audit-keys: the keys that sign checkpoints."""

from __future__ import annotations

from aiohttp import web

from api.grants_models import AccessLogEntry, AccessLogPage, AccessLogQuery, AuditKeyList
from api.parsing import parse_query
from api.security import customer_of
from recstore import audit, audit_keys, checkpoints
from recstore.appkeys import services_key


async def get_access_log(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    query = parse_query(request, AccessLogQuery)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        rows, next_cursor = await audit.list_entries(conn, who.customer_id, limit=query.limit,
                                                     cursor=query.cursor)
        checkpoint = await checkpoints.current(conn, svc.settings.audit_keys_path(),
                                               who.customer_id)
    items = [AccessLogEntry.model_validate(audit.public_entry(row)) for row in rows]
    page = AccessLogPage.model_validate({"items": items, "next_cursor": next_cursor,
                                         "checkpoint": checkpoint.as_json()})
    return web.json_response(page.model_dump(mode="json"))


async def get_audit_keys(request: web.Request) -> web.Response:
    svc = request.app[services_key]
    keys = audit_keys.current(svc.settings.audit_keys_path())
    listing = AuditKeyList.model_validate({"keys": checkpoints.public_keys(keys)})
    return web.json_response(listing.model_dump(mode="json"))
