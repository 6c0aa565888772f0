"""Liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from recstore.appkeys import metrics_open_key, openapi_key, services_key
from recstore.errors import NotFound, Unauthorized


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


# A load balancer's probe gives up after about a second: a stalled dependency must make
# /readyz answer 503 before that, not hang with it.
READY_TIMEOUT_SECONDS = 0.8


async def _answers(check: Awaitable[object]) -> bool:
    try:
        await asyncio.wait_for(check, READY_TIMEOUT_SECONDS)
    except Exception:
        return False
    return True


async def readyz(request: web.Request) -> web.Response:
    svc = request.app[services_key]
    database, object_store = await asyncio.gather(
        _answers(svc.pool.fetchval("SELECT 1", timeout=READY_TIMEOUT_SECONDS)),
        _answers(svc.store.ping(wait_seconds=READY_TIMEOUT_SECONDS)))
    ok = database and object_store
    return web.json_response(
        {"status": "ok" if ok else "unavailable", "database": database,
         "object_store": object_store}, status=200 if ok else 503)


def _metrics_allowed(request: web.Request) -> None:
    """Open on the metrics port; on the API port only with RECSTORE_METRICS_TOKEN (and not
    there at all without one), since metrics tell an outsider about traffic and failures."""
    if request.app.get(metrics_open_key, False):
        return
    token = request.app[services_key].settings.metrics_token
    if token is None:
        raise NotFound()
    offered = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(offered, b"Bearer " + token.get_secret_value().encode()):
        raise Unauthorized("metrics need the metrics token")


async def metrics(request: web.Request) -> web.Response:
    _metrics_allowed(request)
    body = generate_latest(request.app[services_key].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[openapi_key])
