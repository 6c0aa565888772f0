"""Every portal route passes through `portal_view`: the session cookie is resolved into the
same Principal a bearer token gives the API, state changes need a CSRF token, and domain
errors become HTML pages instead of problem+json."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

from api.parsing import read_form
from api.portal.context import (
    PRE_CSRF_COOKIE,
    SESSION_COOKIE,
    form_key,
    public_scheme_host,
    session_key,
)
from api.portal.render import error_page
from recstore.appkeys import principal_key, services_key
from recstore.auth import sessions
from recstore.auth.login import record_denial
from recstore.errors import Forbidden, RecstoreError, Unauthorized

PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A user who must choose a new password may reach only these.
_ALLOWED_BEFORE_PASSWORD_CHANGE = frozenset({"/account/password", "/logout", "/language"})


def _same_origin(request: web.Request) -> bool:
    """Browsers send Origin on every POST; one from elsewhere is refused outright."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return request.headers.get("Sec-Fetch-Site", "same-origin") in {"same-origin", "none"}
    scheme, host = public_scheme_host(request)
    return origin == f"{scheme}://{host}"


def _csrf_ok(request: web.Request, form: dict[str, str]) -> bool:
    offered = form.get("csrf")
    session = request.get(session_key)
    if session is not None:
        return sessions.csrf_ok(session, offered)
    cookie = request.cookies.get(PRE_CSRF_COOKIE)
    return bool(cookie and offered and secrets.compare_digest(cookie, offered))


async def _session_of(request: web.Request) -> sessions.Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    async with request.app[services_key].pool.acquire() as conn:
        try:
            return await sessions.resolve(conn, token)
        except Unauthorized:
            return None


def portal_view(roles: frozenset[str] | None, handler: PageHandler, *,
                html_errors: bool = True) -> PageHandler:
    """`roles` None: open to anyone (sign-in page); `html_errors` False for audio and
    downloads, whose errors stay problem+json (a media element reads only the status)."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        svc = request.app[services_key]
        session = await _session_of(request)
        if session is not None:
            request[session_key] = session
            request[principal_key] = session.principal
        try:
            if request.method == "POST":
                form: dict[str, str] = {}
                for name, value in (await read_form(request)).items():
                    if isinstance(value, str):  # uploads are never expected here
                        form.setdefault(name, value)
                request[form_key] = form
                if not _same_origin(request) or not _csrf_ok(request, form):
                    svc.metrics.access_denied.labels("csrf").inc()
                    raise Forbidden("the form has expired or came from another site; reload"
                                    " the page and try again")
            if roles is not None:
                if session is None:
                    if request.method == "GET" and html_errors:
                        # Back to this page after signing in (the link in a notification).
                        raise web.HTTPSeeOther(f"/?{urlencode({'next': request.path_qs})}")
                    raise Unauthorized("please sign in")
                if session.principal.role not in roles:
                    svc.metrics.access_denied.labels("role").inc()
                    async with svc.pool.acquire() as conn:
                        await record_denial(conn, session.principal, "role")
                    raise Forbidden("this page is not available to your role")
                if (session.must_change_password
                        and request.path not in _ALLOWED_BEFORE_PASSWORD_CHANGE):
                    raise web.HTTPSeeOther("/account/password")
            return await handler(request)
        except RecstoreError as exc:
            if not html_errors:
                raise
            return error_page(request, exc.status, exc.detail)

    return guarded
