"""GET /api/v1/access-log: the customer's own hash-chained audit log, newest first."""

from __future__ import annotations

from aiohttp import web

from api.grants_models import AccessLogEntry, AccessLogPage, AccessLogQuery
from api.parsing import parse_query
from api.security import customer_of
from recstore import audit
from recstore.appkeys import services_key


async def get_access_log(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    query = parse_query(request, AccessLogQuery)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        rows, next_cursor = await audit.list_entries(conn, who.customer_id, limit=query.limit,
                                                     cursor=query.cursor)
    items = [AccessLogEntry.model_validate(audit.public_entry(row)) for row in rows]
    page = AccessLogPage(items=items, next_cursor=next_cursor)
    return web.json_response(page.model_dump(mode="json"))
