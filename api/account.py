"""DELETE /api/v1/account: erase the whole customer account (customer_admin only)."""

from __future__ import annotations

import logging

from aiohttp import web

from api.rights_models import erasure_view
from api.security import customer_of
from recstore.appkeys import services_key, streaming_started_key
from recstore.rights.erasure import request_erasure, run_erasure

log = logging.getLogger("recstore.api.account")


async def delete_account(request: web.Request) -> web.StreamResponse:
    """202 once the account is unreadable and its tokens refused; the rest of the erasure
    runs right after the answer is sent (and is resumed by the worker if this process dies)."""
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    status = await request_erasure(svc.pool, who.customer_id, who.user_id)
    view = erasure_view(status.customer_id, status.state, status.requested_at,
                        status.finished_at)
    response = web.json_response(view.model_dump(mode="json"), status=202)
    return await answer_then_erase(request, response)


async def answer_then_erase(request: web.Request, response: web.StreamResponse
                            ) -> web.StreamResponse:
    """Send `response` (the account is already unreadable), then run the rest of the erasure
    in this request; a failure is recorded on the erasure's row and the worker resumes it."""
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    await response.prepare(request)
    await response.write_eof()
    request[streaming_started_key] = True
    try:
        await run_erasure(svc.pool, svc.store, who.customer_id)
        svc.metrics.erasures.labels("completed").inc()
    except Exception:
        svc.metrics.erasures.labels("interrupted").inc()  # recorded on its row; resumed later
    return response
