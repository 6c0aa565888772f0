"""What a portal request carries besides the principal: its session, its parsed form, and
the CSRF token its pages embed; cookie names and flags."""

from __future__ import annotations

import ipaddress
import secrets

from aiohttp import web

from api.client_address import trusted_networks
from recstore.appkeys import services_key
from recstore.auth import sessions

SESSION_COOKIE = "recstore_session"
PRE_CSRF_COOKIE = "recstore_csrf"  # double-submit token for forms before sign-in
session_key = web.RequestKey("portal_session", sessions.Session)
form_key = web.RequestKey("portal_form", dict[str, str])  # first value of each text field
new_pre_csrf_key = web.RequestKey("portal_new_pre_csrf", str)


def _via_trusted_proxy(request: web.Request) -> bool:
    try:
        peer = ipaddress.ip_address((request.remote or "").split("%")[0])
    except ValueError:
        return False
    networks = trusted_networks(request.app[services_key].settings.trusted_proxies)
    return any(peer in network for network in networks)


def public_scheme_host(request: web.Request) -> tuple[str, str]:
    """What the browser sees: behind a trusted TLS-terminating proxy (RECSTORE_TRUSTED_PROXIES)
    its X-Forwarded-Proto and -Host; otherwise this connection's own."""
    if _via_trusted_proxy(request):
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
        return (proto if proto in {"http", "https"} else request.scheme), host or request.host
    return request.scheme, request.host


def cookie_flags(request: web.Request) -> dict[str, object]:
    secure = public_scheme_host(request)[0] == "https"
    return {"httponly": True, "samesite": "Strict", "secure": secure, "path": "/"}


def pre_csrf_token(request: web.Request) -> str:
    """The anonymous double-submit token: reused from the cookie, or a new one."""
    existing = request.cookies.get(PRE_CSRF_COOKIE)
    if existing and 20 <= len(existing) <= 100:
        return existing
    token = request.get(new_pre_csrf_key) or secrets.token_urlsafe(32)
    request[new_pre_csrf_key] = token
    return token


def csrf_token(request: web.Request) -> str:
    session = request.get(session_key)
    return session.csrf_token if session is not None else pre_csrf_token(request)
