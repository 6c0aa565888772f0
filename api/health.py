"""Liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from recstore.appkeys import openapi_key, services_key


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


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[services_key].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[openapi_key])
