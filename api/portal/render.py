"""Rendering a portal page: the template's common context (language, CSRF token, who is
signed in) and the headers every page carries (strict CSP, no-store)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from api.portal.context import PRE_CSRF_COOKIE, cookie_flags, csrf_token, new_pre_csrf_key, session_key
from api.portal.i18n import language_of, translator

# Only this origin's stylesheet and script; no inline code, no other origin, no framing.
PORTAL_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
              " media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none';"
              " frame-ancestors 'none'")
_TITLES = {400: "Bad request", 401: "Please sign in", 403: "Not allowed", 404: "Not found",
           409: "Conflict", 413: "Too large", 422: "Please check your input",
           429: "Too many attempts", 503: "Temporarily unavailable"}


def finish(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = PORTAL_CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Cookie, Accept-Language"
    new_token = request.get(new_pre_csrf_key)
    if new_token is not None:
        response.set_cookie(PRE_CSRF_COOKIE, new_token, **cookie_flags(request))  # type: ignore[arg-type]


def page(request: web.Request, template: str, context: dict[str, Any], *,
         status: int = 200) -> web.Response:
    lang = language_of(request)
    session = request.get(session_key)
    common = {"_": translator(lang), "lang": lang, "csrf": csrf_token(request),
              "me": session.principal if session else None,
              "my_email": session.email if session else None,
              "path": request.path_qs, "section": context.get("section", "")}
    response = aiohttp_jinja2.render_template(template, request, {**common, **context},
                                              status=status)
    response.headers["Content-Language"] = lang
    finish(request, response)
    return response


def error_page(request: web.Request, status: int, detail: str) -> web.Response:
    return page(request, "error.html", {"status": status,
                                        "title": _TITLES.get(status, "Something went wrong"),
                                        "detail": detail}, status=status)
