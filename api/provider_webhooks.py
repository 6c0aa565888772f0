"""Webhooks of the pull-style providers: read the delivery, queue its job, answer 204."""

from __future__ import annotations

from aiohttp import web

from api.parsing import path_uuid, read_body
from api.spec import Operation
from ingest.adapter import Delivery
from ingest.receive import accept_delivery
from recstore.appkeys import services_key
from recstore.errors import Forbidden, RecstoreError
from recstore.settings import Settings

MAX_DELIVERY_BYTES = 256 * 1024  # callbacks are a few KB; audio is fetched, never posted


def public_url(request: web.Request, settings: Settings) -> str:
    """The URL as the provider called it: what Twilio signs. Behind a TLS-terminating proxy
    the scheme and host seen here differ, so RECSTORE_PUBLIC_BASE_URL takes precedence."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + request.raw_path
    return f"{request.scheme}://{request.host}{request.raw_path}"


async def _receive(request: web.Request, provider: str) -> web.Response:
    svc = request.app[services_key]
    try:
        try:
            customer_id = path_uuid(request, "customer_id")
        except RecstoreError:
            raise Forbidden("signature does not match") from None
        delivery = Delivery(public_url(request, svc.settings), request.headers,
                            await read_body(request, MAX_DELIVERY_BYTES), request.query)
        await accept_delivery(svc, provider, customer_id, delivery)
    except RecstoreError as exc:
        if isinstance(exc, Forbidden):
            svc.metrics.webhook_signature_failures.labels(provider).inc()
        svc.metrics.ingest_rejected.labels(provider, type(exc).__name__).inc()
        raise
    return web.Response(status=204)


async def twilio_webhook(request: web.Request) -> web.Response:
    return await _receive(request, "twilio")


async def elks_webhook(request: web.Request) -> web.Response:
    return await _receive(request, "46elks")


async def telnyx_webhook(request: web.Request) -> web.Response:
    return await _receive(request, "telnyx")


_FORM = "application/x-www-form-urlencoded"
PROVIDER_OPERATIONS: list[Operation] = [
    Operation("POST", "/webhooks/twilio/{customer_id}", twilio_webhook,
              "Twilio recording status or <Record> action callback (X-Twilio-Signature)",
              "webhooks", body_content=_FORM, status=204, errors=(403, 413, 422)),
    Operation("POST", "/webhooks/46elks/{customer_id}", elks_webhook,
              "46elks recordcall/record callback (authenticated by the URL's token)",
              "webhooks", body_content=_FORM, status=204, errors=(403, 413, 422)),
    Operation("POST", "/webhooks/telnyx/{customer_id}", telnyx_webhook,
              "Telnyx call.recording.saved event (Ed25519-signed)", "webhooks",
              body_content="application/json", status=204, errors=(403, 413, 422)),
]
