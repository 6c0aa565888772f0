"""What a portal request carries besides the principal: its session, its parsed form, and
the CSRF token its pages embed; cookie names and flags."""

from __future__ import annotations

import secrets

from aiohttp import web

from recstore.auth import sessions

SESSION_COOKIE = "recstore_session"
PRE_CSRF_COOKIE = "recstore_csrf"  # double-submit token for forms before sign-in
session_key = web.RequestKey("portal_session", sessions.Session)
form_key = web.RequestKey("portal_form", dict[str, str])  # first value of each text field
new_pre_csrf_key = web.RequestKey("portal_new_pre_csrf", str)


def cookie_flags(request: web.Request) -> dict[str, object]:
    return {"httponly": True, "samesite": "Strict", "secure": request.secure, "path": "/"}


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
