"""POST /api/v1/auth/login."""

from __future__ import annotations

import logging

from aiohttp import web

from api.models import LoginRequest, TokenResponse
from api.parsing import parse_body
from recstore.appkeys import services_key
from recstore.auth import email_fingerprint, login
from recstore.errors import Unauthorized

log = logging.getLogger("recstore.auth")


async def login_handler(request: web.Request) -> web.Response:
    svc = request.app[services_key]
    body = await parse_body(request, LoginRequest)
    try:
        async with svc.pool.acquire() as conn:
            token = await login(conn, svc.tokens, body.email, body.password)
    except Unauthorized:
        svc.metrics.login_failures.inc()
        log.warning("login failed", extra={"email_tag": email_fingerprint(body.email)})
        raise
    out = TokenResponse(access_token=token, expires_in=svc.tokens.ttl_seconds)
    return web.json_response(out.model_dump(mode="json"))
