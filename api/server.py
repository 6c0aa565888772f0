"""The HTTP server recstore runs: aiohttp's, with its own error answers made safe.

Errors aiohttp raises before any handler runs (a header line over 8190 bytes, bad framing,
a malformed request line) get its `400 text/plain` whose text, and whose log line, quote the
offending bytes: often a bearer token. Here they are problem+json with a fixed detail and
logged by kind only. aiohttp's keep-alive timer, armed from the moment a connection opens
or a response ends, closes a connection whose next request's headers are not complete in
time: that is the header read timeout (a client trickling headers is dropped).
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from api.hardening import SECURITY_HEADERS
from recstore.tls.server import HSTS_VALUE

log = logging.getLogger("recstore.http")

_DETAIL = {400: "the request could not be parsed",
           431: "a request header line is too long",
           500: "an unexpected error occurred"}


def _safe_error(request: BaseRequest, status: int, exc: BaseException | None) -> web.Response:
    if isinstance(exc, LineTooLong):
        status = 431
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = {"type": "about:blank", "title": phrase, "status": status,
            "detail": _DETAIL.get(status, phrase.lower())}
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    if request.secure:  # HSTS on every HTTPS answer, these too
        headers["Strict-Transport-Security"] = HSTS_VALUE
    response = web.Response(status=status, text=json.dumps(body),
                            content_type="application/problem+json", headers=headers)
    response.force_close()
    return response


class SafeErrorRequestHandler(RequestHandler):
    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None
                     ) -> web.StreamResponse:
        if status >= 500:
            # Raised by our own code (request bytes are not in our exception texts).
            log.error("request failed", exc_info=exc)
        else:
            log.info("unparsable request refused", extra={"reason": type(exc).__name__})
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; connection is dropped")
        return _safe_error(request, status, exc)


class SafeErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return SafeErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class HardenedRunner(web.AppRunner):
    """An AppRunner whose connections are SafeErrorRequestHandlers."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return SafeErrorServer(plain.request_handler, request_factory=plain.request_factory,
                               handler_cancellation=plain.handler_cancellation,
                               loop=plain._loop, **plain._kwargs)


def hardened_runner(app: web.Application, *, header_timeout: float, **kwargs: Any
                    ) -> HardenedRunner:
    return HardenedRunner(app, access_log=None, keepalive_timeout=header_timeout, **kwargs)
