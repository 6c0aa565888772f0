"""Response headers every answer carries: nothing cached, sniffed or framed."""

from __future__ import annotations

from aiohttp import web

from recstore.tls.server import HSTS_VALUE

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # Recordings and their metadata are personal data: no shared or on-disk caches.
    response.headers.setdefault("Cache-Control", "no-store")
    if request.secure:  # HSTS is only honoured over HTTPS, and must be on every answer there
        response.headers["Strict-Transport-Security"] = HSTS_VALUE


def install(app: web.Application) -> None:
    app.on_response_prepare.append(_add_headers)
