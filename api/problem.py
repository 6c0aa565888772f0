"""One middleware turns every error into RFC 9457 problem+json; nothing else leaks."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web

from recstore.appkeys import services_key, streaming_started_key
from recstore.db import is_database_outage
from recstore.errors import RangeNotSatisfiable, RecstoreError, TooManyRequests, Unavailable
from recstore.object_store import ObjectStoreError

log = logging.getLogger("recstore.api")
# How long a client should wait before retrying after an outage of the database or the
# object store: restarts take seconds, and providers retry on 503 by themselves.
RETRY_AFTER_SECONDS = 5


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None
            ) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.Response(status=status, text=json.dumps(body), headers=headers,
                        content_type="application/problem+json")


def _route_label(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


@web.middleware
async def problem_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    metrics = request.app[services_key].metrics
    started = time.perf_counter()
    try:
        response: web.StreamResponse = await handler(request)
    except Exception:
        if request.get(streaming_started_key):
            log.exception("stream aborted", extra={"route": _route_label(request)})
            raise  # headers are out: aiohttp closes the connection, the client sees truncation
        response = _problem_for(request)
    route = _route_label(request)
    metrics.http_requests.labels(request.method, route, str(response.status)).inc()
    metrics.http_latency.labels(request.method, route).observe(time.perf_counter() - started)
    return response


def problem_for_error(exc: RecstoreError) -> web.Response:
    headers = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="recstore"'
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, RangeNotSatisfiable):
        headers["Content-Range"] = f"bytes */{exc.size}"
    if exc.status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return problem(exc.status, exc.title, exc.detail, headers)


def _problem_for(request: web.Request) -> web.Response:
    """Called inside an `except` block: renders the error being handled."""
    try:
        raise
    except RecstoreError as exc:
        return problem_for_error(exc)
    except ObjectStoreError:
        log.exception("object store failure")
        return _unavailable("storage is unavailable, try again")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(exc.status, exc.reason, exc.reason,
                       {k: v for k, v in exc.headers.items() if k == "Allow"})
    except Exception as exc:
        if is_database_outage(exc):
            log.warning("database unavailable", extra={"route": _route_label(request),
                                                       "reason": type(exc).__name__})
            return _unavailable("the database is unavailable, try again")
        log.exception("unhandled error", extra={"route": _route_label(request)})
        return problem(500, "Internal error", "an unexpected error occurred")


def _unavailable(detail: str) -> web.Response:
    return problem(503, Unavailable.title, detail, {"Retry-After": str(RETRY_AFTER_SECONDS)})
