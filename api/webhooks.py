"""Webhook routes: the generic signed upload (provider adapters are added beside it).

The upload is authenticated from its headers before its body is read. A request with
`Expect: 100-continue` is checked in the route's expect handler, so a refused sender gets
its answer instead of `100 Continue` and never sends the body at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID

from aiohttp import ClientPayloadError, HttpVersion11, web
from aiohttp.http_exceptions import HttpProcessingError

from api.models import UploadCreated
from api.problem import problem, problem_for_error
from ingest.upload import PROVIDER, AuthenticatedUpload, authenticate, receive_upload
from recstore.appkeys import services_key
from recstore.errors import BadRequest, PayloadTooLarge, RecstoreError, RequestTimeout, Unauthorized
from recstore.services import Services

UPLOAD_PIECE = 64 * 1024
# A sender that stops sending mid-body is dropped (its half-stored object removed) after this.
UPLOAD_IDLE_SECONDS = 30.0
_authenticated_key = web.RequestKey("upload_authenticated", AuthenticatedUpload)


def _refused(svc: Services, exc: RecstoreError) -> None:
    if isinstance(exc, Unauthorized):
        svc.metrics.webhook_signature_failures.labels(PROVIDER).inc()
    svc.metrics.ingest_rejected.labels(PROVIDER, type(exc).__name__).inc()


async def _authenticate(request: web.Request) -> AuthenticatedUpload:
    if _authenticated_key in request:
        return request[_authenticated_key]
    svc = request.app[services_key]
    limit = svc.settings.max_upload_bytes
    try:
        try:
            parsed = UUID(request.match_info["customer_id"])
        except ValueError:
            raise Unauthorized("signature does not match") from None
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"the upload limit is {limit} bytes")
        upload = await authenticate(svc, parsed, request.headers)
    except RecstoreError as exc:
        _refused(svc, exc)
        raise
    request[_authenticated_key] = upload
    return upload


async def upload_expect(request: web.Request) -> web.StreamResponse | None:
    """aiohttp's expect handler, with the upload's checks before `100 Continue`."""
    try:
        await _authenticate(request)
    except RecstoreError as exc:
        return problem_for_error(exc)
    if request.version != HttpVersion11:
        return None
    if request.headers.get("Expect", "").lower() != "100-continue":
        return problem(417, "Expectation failed", "only 100-continue is supported")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the status line above is not part of the response
    return None


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    while True:
        try:
            async with asyncio.timeout(UPLOAD_IDLE_SECONDS):
                piece = await request.content.read(UPLOAD_PIECE)
        except TimeoutError:
            raise RequestTimeout(f"no body bytes for {UPLOAD_IDLE_SECONDS:g} s") from None
        except (HttpProcessingError, ClientPayloadError):
            raise BadRequest("the request body is malformed") from None
        if not piece:
            return
        yield piece


async def upload_webhook(request: web.Request) -> web.Response:
    svc = request.app[services_key]
    upload = await _authenticate(request)
    try:
        result = await receive_upload(svc, upload, _body(request), request.content_length)
    except RecstoreError as exc:
        _refused(svc, exc)
        raise
    if result.created:
        svc.metrics.recordings_stored.labels(PROVIDER).inc()
    body = UploadCreated(id=result.recording_id).model_dump(mode="json")
    return web.json_response(body, status=201 if result.created else 200)
