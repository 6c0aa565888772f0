"""The account: export with progress, settings (retention, provider copies, notifications)
and erasure of the whole account."""

from __future__ import annotations

from aiohttp import web

from api.account import answer_then_erase
from api.export import export_account
from api.portal.context import SESSION_COOKIE
from api.portal.forms import checkbox, field
from api.portal.render import finish, page
from api.security import CUSTOMER_ADMIN, customer_of
from recstore.accounts import users
from recstore.appkeys import services_key
from recstore.consent import notify_prefs
from recstore.errors import RecstoreError
from recstore.recordings import reads
from recstore.rights import settings as account_settings
from recstore.rights.erasure import request_erasure


def _see_other(request: web.Request, location: str) -> web.Response:
    response = web.Response(status=303, headers={"Location": location})
    finish(request, response)
    return response


async def export_page(request: web.Request) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        count, size = await reads.live_totals(conn, who.customer_id)
    return page(request, "export.html", {"section": "export", "count": count,
                                         "size_bytes": size})


async def export_download(request: web.Request) -> web.StreamResponse:
    return await export_account(request)


async def settings_page(request: web.Request, *, error: str | None = None,
                        status: int = 200) -> web.Response:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    async with svc.pool.acquire() as conn:
        found = await account_settings.get_settings(conn, who.customer_id)
        prefs = await notify_prefs.get_prefs(conn, who.customer_id)
    return page(request, "settings.html", {
        "section": "settings", "settings": found, "prefs": prefs, "error": error,
        "saved": request.query.get("saved") == "1",
        "can_edit": who.role in CUSTOMER_ADMIN}, status=status)


async def settings_submit(request: web.Request) -> web.StreamResponse:
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    try:
        retention = int(field(request, "retention_days", max_length=3))
    except ValueError:
        retention = 0
    if not 1 <= retention <= 90:
        return await settings_page(request, error="Retention must be from 1 to 90 days.",
                                   status=422)
    await account_settings.update_settings(
        svc.pool, svc.store, who.customer_id, who.user_id, retention_days=retention,
        delete_provider_copy=checkbox(request, "delete_provider_copy"))
    async with svc.pool.acquire() as conn:
        await notify_prefs.set_prefs(conn, who.customer_id, who.user_id, notify_prefs.NotifyPrefs(
            checkbox(request, "notify_new_recordings"), checkbox(request, "notify_include_caller")))
    return _see_other(request, "/settings?saved=1")


async def erase_account(request: web.Request) -> web.StreamResponse:
    """The whole account, as DELETE /api/v1/account does it: after the password again and an
    explicit confirmation. The answer goes out once the account is unreadable; the rest of the
    erasure runs right after it (and is resumed by the worker if this process dies)."""
    svc, who = request.app[services_key], customer_of(request)
    assert who.customer_id is not None
    if not checkbox(request, "confirm"):
        return await settings_page(request, error="Tick the box to confirm the erasure.",
                                   status=422)
    try:
        async with svc.pool.acquire() as conn:
            await users.confirm_password(conn, who.user_id, field(request, "password"))
    except RecstoreError as exc:
        return await settings_page(request, error=exc.detail, status=exc.status)
    await request_erasure(svc.pool, who.customer_id, who.user_id)
    response = _see_other(request, "/?erased=1")
    response.del_cookie(SESSION_COOKIE, path="/")
    return await answer_then_erase(request, response)
