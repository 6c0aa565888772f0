"""GET /api/v1/export: the customer's data as one streamed ZIP (docs/EXPORT.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from api.security import customer_of
from recstore.appkeys import services_key, streaming_started_key
from recstore.rights.export import export_archive


async def export_account(request: web.Request) -> web.StreamResponse:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    pieces = export_archive(svc.pool, svc.store, svc.keys, who.customer_id, who.user_id,
                            audit_keys_file=svc.settings.audit_keys_path())
    first = await anext(pieces)  # audited and first document read before the status line
    response = web.StreamResponse(status=200)
    response.content_type = "application/zip"
    filename = f"recstore-export-{datetime.now(UTC):%Y-%m-%d}.zip"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    await response.prepare(request)
    request[streaming_started_key] = True  # from here an error can only cut the connection
    try:
        await response.write(first)
        async for piece in pieces:
            if piece:
                await response.write(piece)
        await response.write_eof()
    except BaseException:
        svc.metrics.exports.labels("aborted").inc()
        raise
    svc.metrics.exports.labels("completed").inc()
    return response
