"""POST /api/v1/auth/login."""

from __future__ import annotations

from aiohttp import web

from api.client_address import client_address
from api.models import LoginRequest, TokenResponse
from api.parsing import parse_body
from recstore.appkeys import services_key
from recstore.auth.login import login
from recstore.errors import TooManyRequests, Unauthorized


async def login_handler(request: web.Request) -> web.Response:
    svc = request.app[services_key]
    body = await parse_body(request, LoginRequest)
    try:
        async with svc.pool.acquire() as conn:
            token = await login(conn, svc.tokens, svc.keys, body.email, body.password,
                                client=client_address(request))
    except Unauthorized:
        svc.metrics.login_failures.inc()
        raise
    except TooManyRequests:
        svc.metrics.login_throttled.inc()
        raise
    out = TokenResponse(access_token=token, expires_in=svc.tokens.ttl_seconds)
    return web.json_response(out.model_dump(mode="json"))
