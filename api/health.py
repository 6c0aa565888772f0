"""Liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from recstore.appkeys import openapi_key, services_key


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    svc = request.app[services_key]
    database = object_store = True
    try:
        await svc.pool.fetchval("SELECT 1")
    except Exception:
        database = False
    try:
        await svc.store.ping()
    except Exception:
        object_store = False
    ok = database and object_store
    return web.json_response(
        {"status": "ok" if ok else "unavailable", "database": database,
         "object_store": object_store}, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[services_key].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[openapi_key])
