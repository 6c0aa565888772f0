"""Log in and out, the front page, and the language switch."""

from __future__ import annotations

from aiohttp import web

from api.client_address import client_address
from api.portal.context import SESSION_COOKIE, cookie_flags, form_key, session_key
from api.portal.forms import field, safe_next
from api.portal.i18n import LANG_COOKIE, LANGUAGES
from api.portal.render import finish, page
from api.portal.views_console import console_home
from api.portal.views_recordings import recordings_page
from recstore.appkeys import services_key
from recstore.auth import sessions
from recstore.auth.login import check_credentials
from recstore.errors import TooManyRequests, Unauthorized

PORTAL_ROLES = frozenset({"customer_admin", "customer_user", "staff"})


def _redirect(request: web.Request, location: str) -> web.Response:
    response = web.Response(status=303, headers={"Location": location})
    finish(request, response)
    return response


async def home(request: web.Request) -> web.StreamResponse:
    session = request.get(session_key)
    if session is None:
        return login_page(request)
    if session.must_change_password:
        return _redirect(request, "/account/password")
    if session.principal.role == "staff":
        return await console_home(request)
    return await recordings_page(request)


def login_page(request: web.Request, *, error: str | None = None, status: int = 200,
               email: str = "") -> web.Response:
    after = safe_next(request.get(form_key, {}).get("next") or request.query.get("next"))
    return page(request, "login.html", {"error": error, "email": email, "section": "login",
                                        "next": after, "erased": request.query.get("erased") == "1"},
                status=status)


async def login_submit(request: web.Request) -> web.StreamResponse:
    svc = request.app[services_key]
    email, password = field(request, "email", max_length=254), field(request, "password")
    try:
        async with svc.pool.acquire() as conn:
            principal = await check_credentials(conn, svc.keys, email, password,
                                                client=client_address(request))
    except Unauthorized:
        svc.metrics.login_failures.inc()
        return login_page(request, error="Wrong email address or password.", status=401,
                          email=email)
    except TooManyRequests as exc:
        svc.metrics.login_throttled.inc()
        response = login_page(request, error="Too many attempts. Please wait and try again.",
                              status=429, email=email)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if principal.role not in PORTAL_ROLES:
        return login_page(request, error="This account cannot use the portal.", status=403)
    async with svc.pool.acquire() as conn:
        old = request.cookies.get(SESSION_COOKIE)
        if old:
            await sessions.end(conn, old)  # a fresh token at every sign-in: no fixation
        token = await sessions.start(conn, principal)
    response = _redirect(request, safe_next(field(request, "next", required=False)))
    response.set_cookie(SESSION_COOKIE, token, **cookie_flags(request))  # type: ignore[arg-type]
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        async with request.app[services_key].pool.acquire() as conn:
            await sessions.end(conn, token)
    response = _redirect(request, "/")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def switch_language(request: web.Request) -> web.StreamResponse:
    lang = field(request, "lang", max_length=5)
    response = _redirect(request, safe_next(field(request, "next", required=False)))
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400,
                            **cookie_flags(request))  # type: ignore[arg-type]
    return response
