"""Users: invite a colleague and remove a user (customer_admin), change one's own password."""

from __future__ import annotations

from aiohttp import web

from api.parsing import path_uuid
from api.portal.context import SESSION_COOKIE, cookie_flags
from api.portal.forms import field
from api.portal.render import finish, page
from api.security import customer_of, principal
from recstore.accounts import users
from recstore.appkeys import services_key
from recstore.auth import sessions
from recstore.errors import Invalid, RecstoreError


def _see_other(request: web.Request, location: str) -> web.Response:
    response = web.Response(status=303, headers={"Location": location})
    finish(request, response)
    return response


async def users_page(request: web.Request, *, invited: users.Invitation | None = None,
                     invited_email: str | None = None, error: str | None = None,
                     status: int = 200) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        listed = await users.list_users(conn, who.customer_id)
    return page(request, "users.html", {
        "section": "users", "users": listed, "invited": invited, "invited_email": invited_email,
        "error": error, "removed": request.query.get("removed") == "1"}, status=status)


async def invite(request: web.Request) -> web.StreamResponse:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    email = field(request, "email", max_length=254)
    try:
        async with svc.pool.acquire() as conn:
            made = await users.invite(conn, who.customer_id, email=email,
                                      role=field(request, "role", max_length=20),
                                      invited_by=who.user_id)
    except RecstoreError as exc:
        return await users_page(request, error=exc.detail, status=exc.status)
    # Shown once, never stored in clear: the colleague must replace it at first sign-in.
    return await users_page(request, invited=made, invited_email=email.strip().lower())


async def remove_user(request: web.Request) -> web.StreamResponse:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        await users.remove(conn, who.customer_id, path_uuid(request, "id"), removed_by=who.user_id)
    return _see_other(request, "/users?removed=1")


async def password_page(request: web.Request, *, error: str | None = None,
                        status: int = 200) -> web.Response:
    return page(request, "password.html", {"section": "password", "error": error,
                                           "changed": request.query.get("changed") == "1"},
                status=status)


async def password_submit(request: web.Request) -> web.StreamResponse:
    svc, who = request.app[services_key], principal(request)  # staff change theirs here too
    new = field(request, "new_password", max_length=1000)
    if new != field(request, "repeat_password", max_length=1000):
        return await password_page(request, error="The two new passwords differ.", status=422)
    try:
        async with svc.pool.acquire() as conn:
            await users.change_password(conn, who.user_id,
                                        current=field(request, "current_password"), new=new)
            token = await sessions.start(conn, who)  # every other session has just ended
    except (Invalid, RecstoreError) as exc:
        return await password_page(request, error=exc.detail, status=exc.status)
    response = _see_other(request, "/account/password?changed=1")
    response.set_cookie(SESSION_COOKIE, token, **cookie_flags(request))  # type: ignore[arg-type]
    return response
