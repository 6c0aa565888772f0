"""Webhook routes: the generic signed upload (provider adapters are added beside it)."""

from __future__ import annotations

from aiohttp import web

from api.models import UploadCreated
from api.parsing import path_uuid
from ingest.upload import PROVIDER, receive_upload
from recstore.appkeys import services_key
from recstore.errors import PayloadTooLarge, RecstoreError, Unauthorized, UnsupportedMedia

UPLOAD_PIECE = 64 * 1024


async def upload_webhook(request: web.Request) -> web.Response:
    svc = request.app[services_key]
    try:
        customer_id = path_uuid(request, "customer_id")
    except RecstoreError:
        raise Unauthorized("signature does not match") from None
    limit = svc.settings.max_upload_bytes
    try:
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"the upload limit is {limit} bytes")
        if not request.content_type.startswith("audio/"):
            raise UnsupportedMedia("the body must be audio/*")
        result = await receive_upload(svc, customer_id, request.headers,
                                      request.content.iter_chunked(UPLOAD_PIECE))
    except RecstoreError as exc:
        if isinstance(exc, Unauthorized):
            svc.metrics.webhook_signature_failures.labels(PROVIDER).inc()
        svc.metrics.ingest_rejected.labels(PROVIDER, type(exc).__name__).inc()
        raise
    if result.created:
        svc.metrics.recordings_stored.labels(PROVIDER).inc()
    body = UploadCreated(id=result.recording_id).model_dump(mode="json")
    return web.json_response(body, status=201 if result.created else 200)
